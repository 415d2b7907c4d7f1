"""The examples of docs/checkpoints.md (the product's checkpoint and DCP
examples among them) run as scripts, unchanged apart from ENDPOINT,
CONFIG_PATH and CRED_PATH, against the emulator, which has a bucket named
``ossconnectorbucket`` as in the examples."""

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

DOC = Path(__file__).resolve().parents[2] / "docs" / "checkpoints.md"
BUCKET = "ossconnectorbucket"


def example(name: str) -> str:
    """The code block following ``<!-- example: name -->`` in the doc."""
    m = re.search(r"<!-- example: %s -->\s*```py\n(.*?)```" % re.escape(name), DOC.read_text(),
                  re.S)
    assert m, f"{DOC}: no example {name!r}"
    return m.group(1)


def configure(code: str, emu, cred_file, config_file) -> str:
    """Points the example's ENDPOINT/CONFIG_PATH/CRED_PATH at the emulator
    and changes nothing else."""
    values = {"ENDPOINT": emu.endpoint, "CONFIG_PATH": config_file, "CRED_PATH": cred_file}
    out = code
    for name, value in values.items():
        out, n = re.subn(r'^%s = ".*"$' % name, f"{name} = {value!r}", out, flags=re.M)
        assert n == 1, name
    return out


def run_script(code: str, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.py"
    path.write_text(code)
    proc = subprocess.run([sys.executable, str(path)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture
def product_bucket(emu):
    emu.create_bucket(BUCKET)
    yield BUCKET
    emu.delete_bucket(BUCKET)


def test_checkpoint_example(emu, cred_file, config_file, product_bucket, client, tmp_path):
    g = torch.Generator().manual_seed(0)
    epoch0 = {"model": {"w": torch.randn(700, 1000, generator=g), "b": torch.zeros(7)},
              "epoch": 0}
    buf = io.BytesIO()
    torch.save(epoch0, buf)
    client.put(f"oss://{BUCKET}/checkpoint/epoch.0", buf.getvalue())
    run_script(configure(example("checkpoint"), emu, cred_file, config_file), tmp_path, "ckpt")
    got = torch.load(io.BytesIO(client.get(f"oss://{BUCKET}/checkpoint/epoch.1")),
                     weights_only=True)
    assert torch.equal(got["model"]["w"], epoch0["model"]["w"]) and got["epoch"] == 0


def test_any_object_example(emu, cred_file, config_file, product_bucket, client, tmp_path):
    run_script(configure(example("any-object"), emu, cred_file, config_file), tmp_path, "any")
    assert client.get(f"oss://{BUCKET}/files/os-release") == Path("/etc/os-release").read_bytes()


# torchvision's CPU wheels are not on PyPI (its wheels there need CUDA torch),
# so the verbatim DCP example usually cannot import it here; the second run
# replaces only the model line with a ResNet-18-shaped model built from torch.nn.
RESNET_LIKE = '''
import torch.nn as nn


def _block(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(), nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
                         nn.BatchNorm2d(cout))


def resnet18_like():
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    cin = 64
    for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        layers += [_block(cin, cout, stride), _block(cout, cout, 1)]
        cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000))
'''

CHECK = '''
for key, value in model.state_dict().items():
    assert torch.equal(value, loaded_state_dict[key]), key
print("ok", len(loaded_state_dict))
'''


@pytest.mark.parametrize("variant", ["verbatim", "model-line-replaced"])
def test_dcp_example(emu, cred_file, config_file, product_bucket, client, tmp_path, variant):
    code = configure(example("dcp"), emu, cred_file, config_file)
    if variant == "verbatim":
        try:
            import torchvision  # noqa: F401
        except Exception as e:
            pytest.skip(f"torchvision is not importable here ({type(e).__name__})")
    else:
        code = code.replace("import torchvision\n", RESNET_LIKE)
        code = code.replace("torchvision.models.resnet18()", "resnet18_like()")
        assert "torchvision" not in code
    run_script(code + CHECK, tmp_path, "dcp")
    names = {e.key for e in client.list(f"oss://{BUCKET}/dcp-checkpoint-resnet18/")}
    assert "dcp-checkpoint-resnet18/.metadata" in names
