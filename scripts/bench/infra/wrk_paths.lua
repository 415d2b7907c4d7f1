-- wrk script: GET every path listed in a file, in turn, spread over the
-- threads (thread k takes lines k+1, k+1+n, ...).
-- Usage: wrk -t N -c C -d S -s wrk_paths.lua URL -- PATHS_FILE N

local made = 0

function setup(thread)
    thread:set("id", made)
    made = made + 1
end

function init(args)
    local all = {}
    for line in io.lines(args[1]) do
        all[#all + 1] = line
    end
    local n = tonumber(args[2])
    mine = {}
    for i = id + 1, #all, n do
        mine[#mine + 1] = all[i]
    end
    sent = 0
end

function request()
    sent = sent + 1
    return wrk.format("GET", mine[(sent - 1) % #mine + 1])
end
