/* gotpatch.c - in-process interposition by rewriting GOT entries.
 *
 * A library loaded with dlopen cannot interpose on symbols other objects
 * already bound to libc.  So for each loaded object (dl_iterate_phdr) we
 * read its dynamic section, walk its JUMP_SLOT and GLOB_DAT relocations
 * (DT_JMPREL, DT_RELA) and point the entries of the functions we serve at
 * our forwarders; RELRO pages are made writable for the store and given
 * their protection back.  Rust, built without PLT, calls through
 * GLOB_DAT entries; C code through JUMP_SLOT ones: both are covered.
 * `dlopen` itself is one of the redirected functions, so objects loaded
 * later are patched as soon as they are loaded.
 *
 * Every rewritten entry is recorded with its previous value and restored
 * by ossc_got_uninstall (only if it still holds our value, and only in
 * objects still loaded).  Patching and restoring run inside
 * dl_iterate_phdr's callback, which holds the loader's list lock, so no
 * object is unloaded meanwhile.  Another thread's dlopen may still be
 * relocating an object we see: entries are therefore written through
 * /proc/self/mem (it never faults, whatever the page's protection is at
 * that instant), and an object whose entries do not hold libc's address
 * yet is left for the next pass.  An entry is one aligned pointer: other
 * threads calling through it see the old or the new target, both valid.
 *
 * Not covered (documented): calls inside libc itself, static binaries,
 * raw system calls, functions resolved with dlsym at run time, and
 * pointers copied out of a GOT before installation. */
#include <dlfcn.h>
#include <elf.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"
#include "inproc.h"
#include "log.h"
#include "interposer.h"

#if defined(__x86_64__)
#define R_JUMP_SLOT R_X86_64_JUMP_SLOT
#define R_GLOB_DAT R_X86_64_GLOB_DAT
#define GOT_SUPPORTED 1
#elif defined(__aarch64__)
#define R_JUMP_SLOT R_AARCH64_JUMP_SLOT
#define R_GLOB_DAT R_AARCH64_GLOB_DAT
#define GOT_SUPPORTED 1
#else
#define GOT_SUPPORTED 0
#endif

#define ELF_R_SYM(i) ELF64_R_SYM(i)
#define ELF_R_TYPE(i) ELF64_R_TYPE(i)

typedef struct slot {
    uintptr_t *addr;
    uintptr_t orig;
    uintptr_t repl;
} slot;

typedef struct object {
    uintptr_t base;
    const void *phdr;
    unsigned gen;   /* pass in which it was last seen */
    slot *slots;
    size_t nslots;
} object;

/* A page range and its protection, from /proc/self/maps. */
typedef struct region {
    uintptr_t lo, hi;
    int prot;
} region;

static struct {
    pthread_mutex_t lock;
    bool installed;
    ossc_got_target *targets; /* the caller's, plus dlopen */
    uintptr_t *defs;          /* global definition of each target (libc's) */
    size_t ntargets;
    object *objs;
    size_t nobjs, capobjs;
    unsigned gen;
    unsigned long long adds, subs; /* loader counters at the last pass */
    bool pending;                  /* the last pass left an object to look at again */
    uintptr_t self_base, libc_base, vdso_base;
    size_t page;
} G = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* One walk over the loaded objects. */
typedef struct pass {
    bool restore;
    bool rescan;       /* after a dlopen: may stop early when nothing changed */
    bool first;        /* next callback is the first of this pass */
    bool unchanged;    /* nothing loaded or unloaded since the last pass */
    region *regions;   /* read lazily, once per pass */
    size_t nregions;
    bool regions_read;
    int memfd;         /* /proc/self/mem: -2 not opened yet, -1 unusable */
    size_t patched, restored;
} pass;

/* ---------------------------------------------------------- dlopen */

/* glibc resolves a bare library name with the search path of the object
 * that called dlopen (its RPATH/RUNPATH).  Our forwarder is that caller
 * now, so it looks the name up in the real caller's path list
 * (RTLD_DI_SERINFO: RPATH, LD_LIBRARY_PATH, RUNPATH, system dirs) and
 * opens the file found there; what is already loaded wins, as in glibc. */
static void *dlopen_as(const char *file, int mode, const void *caller)
{
    if (!file || strchr(file, '/') || (mode & RTLD_NOLOAD))
        return dlopen(file, mode);
    void *h = dlopen(file, mode | RTLD_NOLOAD);
    if (h)
        return h;
    struct link_map *lm = NULL;
    Dl_info di;
    Dl_serinfo size;
    if (dladdr1(caller, &di, (void **)&lm, RTLD_DL_LINKMAP) && lm &&
        dlinfo(lm, RTLD_DI_SERINFOSIZE, &size) == 0) {
        Dl_serinfo *si = malloc(size.dls_size);
        if (si) {
            si->dls_size = size.dls_size;
            si->dls_cnt = size.dls_cnt;
            if (dlinfo(lm, RTLD_DI_SERINFO, si) == 0) {
                for (unsigned i = 0; i < si->dls_cnt && !h; i++) {
                    char path[PATH_MAX];
                    if (ossc_pathf(path, sizeof(path), "%s/%s", si->dls_serpath[i].dls_name,
                                   file) == 0 &&
                        access(path, F_OK) == 0)
                        h = dlopen(path, mode);
                }
            }
            free(si);
        }
    }
    return h ? h : dlopen(file, mode);
}

static void *got_dlopen(const char *file, int mode)
{
    void *h = dlopen_as(file, mode, __builtin_return_address(0));
    if (h)
        ossc_got_rescan();
    return h;
}

/* ---------------------------------------------------------- memory */

static void read_regions(pass *p)
{
    p->regions_read = true;
    int fd = ossc_real.open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (ssize_t n; buf; len += (size_t)n) {
        if (len + 4096 > cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        n = ossc_real.read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            break;
    }
    ossc_real.close(fd);
    if (!buf)
        return;
    buf[len] = '\0';
    size_t capr = 256;
    p->regions = malloc(capr * sizeof(region));
    for (char *line = buf; p->regions && line && *line;) {
        char *nl = strchr(line, '\n');
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3) {
            if (p->nregions == capr) {
                region *nr = realloc(p->regions, (capr *= 2) * sizeof(region));
                if (!nr)
                    break;
                p->regions = nr;
            }
            int prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
                       (perms[2] == 'x' ? PROT_EXEC : 0);
            p->regions[p->nregions++] = (region){lo, hi, prot};
        }
        line = nl ? nl + 1 : NULL;
    }
    free(buf);
}

/* Protection of the page holding addr, or -1 when unknown. */
static int prot_of(pass *p, uintptr_t addr)
{
    if (!p->regions_read)
        read_regions(p);
    for (size_t i = 0; i < p->nregions; i++)
        if (addr >= p->regions[i].lo && addr < p->regions[i].hi)
            return p->regions[i].prot;
    return -1;
}

/* Stores value at addr: through /proc/self/mem when the kernel allows it
 * (no fault possible, no protection change), else directly, lifting a
 * read-only protection for the store. */
static int store(pass *p, uintptr_t *addr, uintptr_t value)
{
    if (p->memfd == -2)
        p->memfd = ossc_real.open("/proc/self/mem", O_RDWR | O_CLOEXEC);
    if (p->memfd >= 0 &&
        pwrite(p->memfd, &value, sizeof(value), (off_t)(uintptr_t)addr) == (ssize_t)sizeof(value))
        return 0;
    int prot = prot_of(p, (uintptr_t)addr);
    if (prot < 0)
        return -1;
    if (prot & PROT_WRITE) {
        __atomic_store_n(addr, value, __ATOMIC_SEQ_CST);
        return 0;
    }
    void *page = (void *)((uintptr_t)addr & ~(uintptr_t)(G.page - 1));
    if (mprotect(page, G.page, prot | PROT_WRITE) < 0)
        return -1;
    __atomic_store_n(addr, value, __ATOMIC_SEQ_CST);
    mprotect(page, G.page, prot);
    return 0;
}

/* ---------------------------------------------------------- objects */

static object *find_object(uintptr_t base, const void *phdr)
{
    for (size_t i = 0; i < G.nobjs; i++)
        if (G.objs[i].base == base && G.objs[i].phdr == phdr)
            return &G.objs[i];
    return NULL;
}

static int target_index(const char *name)
{
    for (size_t i = 0; i < G.ntargets; i++)
        if (name[0] == G.targets[i].name[0] && strcmp(name, G.targets[i].name) == 0)
            return (int)i;
    return -1;
}

static bool excluded(const struct dl_phdr_info *info)
{
    uintptr_t b = info->dlpi_addr;
    if (b == G.self_base || b == G.libc_base || (G.vdso_base && b == G.vdso_base))
        return true;
    const char *slash = strrchr(info->dlpi_name, '/');
    const char *name = slash ? slash + 1 : info->dlpi_name;
    return strncmp(name, "ld-linux", 8) == 0 || strncmp(name, "ld64.so", 7) == 0 ||
           strncmp(name, "linux-vdso", 10) == 0;
}

static uintptr_t dyn_ptr(uintptr_t base, uintptr_t v)
{
    /* glibc relocates these in place; a read-only dynamic section keeps
     * them as offsets. */
    return v < base ? v + base : v;
}

static int add_slot(object *o, size_t *cap, uintptr_t *addr, uintptr_t orig, uintptr_t repl)
{
    if (o->nslots == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        slot *ns = realloc(o->slots, nc * sizeof(slot));
        if (!ns)
            return -1;
        o->slots = ns;
        *cap = nc;
    }
    o->slots[o->nslots++] = (slot){addr, orig, repl};
    return 0;
}

static void patch_relocs(pass *p, object *o, size_t *cap, size_t *unexpected,
                         const struct dl_phdr_info *info, const ElfW(Rela) *rel, size_t count,
                         const ElfW(Sym) *symtab, const char *strtab, uintptr_t lo, uintptr_t hi)
{
    for (size_t i = 0; i < count; i++) {
        unsigned type = (unsigned)ELF_R_TYPE(rel[i].r_info);
        if (type != R_JUMP_SLOT && type != R_GLOB_DAT)
            continue;
        const ElfW(Sym) *sym = &symtab[ELF_R_SYM(rel[i].r_info)];
        if (sym->st_shndx != SHN_UNDEF || sym->st_name == 0)
            continue;
        int t = target_index(strtab + sym->st_name);
        if (t < 0 || !G.defs[t])
            continue; /* not ours, or libc has no such function here */
        uintptr_t *addr = (uintptr_t *)(info->dlpi_addr + rel[i].r_offset);
        uintptr_t cur = __atomic_load_n(addr, __ATOMIC_SEQ_CST);
        uintptr_t repl = (uintptr_t)G.targets[t].replacement;
        /* libc's definition, or a lazy-binding stub inside the object;
         * anything else belongs to another interposer: leave it. */
        if (cur == repl)
            continue;
        if (cur != G.defs[t] && !(cur >= lo && cur < hi)) {
            (*unexpected)++;
            continue;
        }
        if (add_slot(o, cap, addr, cur, repl) < 0)
            return;
        if (store(p, addr, repl) < 0) {
            o->nslots--;
            OSSC_WARN("cannot patch %s in %s", G.targets[t].name, info->dlpi_name);
            continue;
        }
        p->patched++;
    }
}

static void patch_object(pass *p, const struct dl_phdr_info *info)
{
    const ElfW(Dyn) *dyn = NULL;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
        if (ph->p_type == PT_LOAD) {
            uintptr_t a = info->dlpi_addr + ph->p_vaddr;
            if (a < lo)
                lo = a;
            if (a + ph->p_memsz > hi)
                hi = a + ph->p_memsz;
        }
    }
    if (G.nobjs == G.capobjs) {
        size_t nc = G.capobjs ? G.capobjs * 2 : 64;
        object *no = realloc(G.objs, nc * sizeof(object));
        if (!no)
            return;
        G.objs = no;
        G.capobjs = nc;
    }
    object *o = &G.objs[G.nobjs++];
    *o = (object){.base = info->dlpi_addr, .phdr = info->dlpi_phdr, .gen = G.gen};
    if (!dyn)
        return;
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    const ElfW(Rela) *jmprel = NULL, *rela = NULL;
    size_t jmpsz = 0, relasz = 0, relaent = sizeof(ElfW(Rela));
    long pltrel = DT_RELA;
    uintptr_t b = info->dlpi_addr;
    for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: symtab = (const ElfW(Sym) *)dyn_ptr(b, d->d_un.d_ptr); break;
        case DT_STRTAB: strtab = (const char *)dyn_ptr(b, d->d_un.d_ptr); break;
        case DT_JMPREL: jmprel = (const ElfW(Rela) *)dyn_ptr(b, d->d_un.d_ptr); break;
        case DT_PLTRELSZ: jmpsz = d->d_un.d_val; break;
        case DT_PLTREL: pltrel = (long)d->d_un.d_val; break;
        case DT_RELA: rela = (const ElfW(Rela) *)dyn_ptr(b, d->d_un.d_ptr); break;
        case DT_RELASZ: relasz = d->d_un.d_val; break;
        case DT_RELAENT: relaent = d->d_un.d_val; break;
        default: break;
        }
    }
    if (!symtab || !strtab || relaent != sizeof(ElfW(Rela)))
        return;
    size_t cap = 0, unexpected = 0;
    if (jmprel && pltrel == DT_RELA)
        patch_relocs(p, o, &cap, &unexpected, info, jmprel, jmpsz / sizeof(ElfW(Rela)), symtab,
                     strtab, lo, hi);
    if (rela)
        patch_relocs(p, o, &cap, &unexpected, info, rela, relasz / sizeof(ElfW(Rela)), symtab,
                     strtab, lo, hi);
    if (o->nslots == 0 && unexpected > 0) {
        /* Not relocated yet (another thread is loading it), or bound to
         * another interposer: not recorded, so the next pass looks again. */
        free(o->slots);
        G.nobjs--;
        G.pending = true;
    }
}

static void restore_object(pass *p, object *o)
{
    for (size_t i = 0; i < o->nslots; i++) {
        slot *s = &o->slots[i];
        if (__atomic_load_n(s->addr, __ATOMIC_SEQ_CST) == s->repl && store(p, s->addr, s->orig) == 0)
            p->restored++;
    }
    free(o->slots);
    o->slots = NULL;
    o->nslots = 0;
}

static int pass_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    pass *p = arg;
    if (p->first) {
        p->first = false;
        /* dlpi_adds/dlpi_subs count loads and unloads: when neither moved
         * there is nothing new to patch (a rescan after every dlopen stays
         * cheap with hundreds of objects loaded). */
        if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
            if (p->rescan && !G.pending && info->dlpi_adds == G.adds &&
                info->dlpi_subs == G.subs) {
                p->unchanged = true;
                return 1;
            }
            G.adds = info->dlpi_adds;
            G.subs = info->dlpi_subs;
            G.pending = false;
        }
    }
    if (excluded(info))
        return 0;
    object *o = find_object(info->dlpi_addr, info->dlpi_phdr);
    if (o) {
        o->gen = G.gen;
        if (p->restore)
            restore_object(p, o);
        return 0;
    }
    if (!p->restore)
        patch_object(p, info);
    return 0;
}

/* Runs one pass under G.lock; objects not seen any more were unloaded:
 * their records are dropped (their memory is gone). */
static void run_pass(pass *p)
{
    G.gen++;
    p->first = true;
    p->memfd = -2;
    dl_iterate_phdr(pass_cb, p);
    if (p->memfd >= 0)
        ossc_real.close(p->memfd);
    if (p->unchanged) {
        for (size_t i = 0; i < G.nobjs; i++)
            G.objs[i].gen = G.gen;
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < G.nobjs; i++) {
        if (G.objs[i].gen != G.gen || p->restore) {
            free(G.objs[i].slots);
            continue;
        }
        G.objs[k++] = G.objs[i];
    }
    G.nobjs = k;
    free(p->regions);
    p->regions = NULL;
}

/* ---------------------------------------------------------- public */

static uintptr_t base_of(const void *addr)
{
    Dl_info di;
    return addr && dladdr(addr, &di) ? (uintptr_t)di.dli_fbase : 0;
}

int ossc_got_install(const ossc_got_target *targets, size_t n, ossc_error *err)
{
    if (!GOT_SUPPORTED)
        return ossc_error_set(err, ENOTSUP,
                              "in-process hooks (libc_hook=True) need x86_64 or aarch64");
    pthread_mutex_lock(&G.lock);
    if (G.installed) {
        pthread_mutex_unlock(&G.lock);
        return ossc_error_set(err, EBUSY, "in-process hooks are already installed");
    }
    G.page = (size_t)sysconf(_SC_PAGESIZE);
    G.self_base = base_of((const void *)&ossc_got_install);
    ossc_real_resolve();
    /* gnu_get_libc_version lives in libc only (read may resolve to an old
     * libpthread's cancellation wrapper). */
    G.libc_base = base_of(dlsym(RTLD_DEFAULT, "gnu_get_libc_version"));
    G.vdso_base = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    G.targets = calloc(n + 1, sizeof(*G.targets));
    G.defs = calloc(n + 1, sizeof(*G.defs));
    if (!G.targets || !G.defs) {
        free(G.targets);
        free(G.defs);
        G.targets = NULL;
        G.defs = NULL;
        pthread_mutex_unlock(&G.lock);
        return ossc_error_set(err, ENOMEM, "out of memory");
    }
    memcpy(G.targets, targets, n * sizeof(*targets));
    G.targets[n] = (ossc_got_target){"dlopen", (void *)got_dlopen};
    G.ntargets = n + 1;
    for (size_t i = 0; i < G.ntargets; i++)
        G.defs[i] = (uintptr_t)dlsym(RTLD_DEFAULT, G.targets[i].name);
    pass p = {0};
    run_pass(&p);
    G.installed = true;
    pthread_mutex_unlock(&G.lock);
    OSSC_INFO("in-process hooks: %zu GOT entries redirected", p.patched);
    if (p.patched == 0) {
        ossc_got_uninstall();
        return ossc_error_set(err, ENOTSUP, "in-process hooks: no GOT entry to patch was found");
    }
    return 0;
}

void ossc_got_rescan(void)
{
    pthread_mutex_lock(&G.lock);
    if (G.installed) {
        pass p = {.rescan = true};
        run_pass(&p);
        if (p.patched)
            OSSC_DEBUG("in-process hooks: %zu more GOT entries redirected", p.patched);
    }
    pthread_mutex_unlock(&G.lock);
}

void ossc_got_uninstall(void)
{
    pthread_mutex_lock(&G.lock);
    if (G.installed) {
        pass p = {.restore = true};
        run_pass(&p);
        G.installed = false;
        free(G.targets);
        free(G.defs);
        G.targets = NULL;
        G.defs = NULL;
        G.ntargets = 0;
        OSSC_INFO("in-process hooks: %zu GOT entries restored", p.restored);
    }
    pthread_mutex_unlock(&G.lock);
}

void ossc_got_after_fork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    G.lock = fresh; /* another thread of the parent may have held it */
}

size_t ossc_got_patched(void)
{
    pthread_mutex_lock(&G.lock);
    size_t n = 0;
    for (size_t i = 0; i < G.nobjs; i++)
        n += G.objs[i].nslots;
    pthread_mutex_unlock(&G.lock);
    return n;
}
