"""demp's optimizers (``demp.train.optim``) are PyTorch's, bit for bit, without importing Dynamo.

A trial that imported ``torch._dynamo`` through the optimizer paid 2.1–2.3 s before training
(issue #17). The first tests compare every update against ``torch.optim`` itself; the subprocess
tests run whole trials (pruning, checkpoint, resume, a baseline) in a fresh interpreter and look
at ``sys.modules``, and check that once Dynamo is imported PyTorch's own decorated methods run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from demp.train import optim

CASES = [
    ("AdamW", dict(lr=1e-2, betas=(0.8, 0.95), weight_decay=0.1)),
    ("Adam", dict(lr=1e-2, weight_decay=1e-3)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("SGD", dict(lr=0.1)),
]


def train(cls: type[torch.optim.Optimizer], kwargs: dict, steps: int = 25):
    """A few steps under a LambdaLR schedule, with a state-dict round trip and one parameter
    sliced between steps, as surgery does."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    opt = cls(net.parameters(), **kwargs)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1.0 + 0.1 * s))
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    for step in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        sched.step()
        if step == 10:
            fresh = cls(net.parameters(), **kwargs)
            fresh.load_state_dict(opt.state_dict())
            opt = fresh
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1.0 + 0.1 * s),
                                                      last_epoch=step)
    return [p.detach().clone() for p in net.parameters()], opt.state_dict()


@pytest.mark.parametrize(("name", "kwargs"), CASES)
def test_updates_and_state_are_pytorchs_bit_for_bit(name, kwargs):
    ours_params, ours_state = train(getattr(optim, name), kwargs)
    ref_params, ref_state = train(getattr(torch.optim, name), kwargs)
    for a, b in zip(ours_params, ref_params, strict=True):
        assert torch.equal(a, b)
    assert ours_state["param_groups"] == ref_state["param_groups"]
    assert ours_state["state"].keys() == ref_state["state"].keys()
    for k, per_param in ref_state["state"].items():
        for field, value in per_param.items():
            assert torch.equal(torch.as_tensor(ours_state["state"][k][field]),
                               torch.as_tensor(value)), (k, field)


def test_they_are_pytorchs_classes():
    for name in ("AdamW", "Adam", "SGD"):
        assert issubclass(getattr(optim, name), getattr(torch.optim, name))


def test_step_keeps_the_callers_grad_mode():
    p = torch.nn.Parameter(torch.ones(3))
    opt = optim.AdamW([p], lr=0.1)
    p.grad = torch.ones(3)
    assert torch.is_grad_enabled()
    opt.step()
    assert torch.is_grad_enabled()
    with torch.no_grad():
        opt.step()
        assert not torch.is_grad_enabled()


def run_fresh(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


TRIALS = """
    import json, sys, tempfile
    from pathlib import Path
    from demp.methods import build_trainer
    from demp.train.callbacks import Callback

    out = Path(tempfile.mkdtemp())
    base = {"model": {"name": "mlp", "hidden": [64, 64]}, "optimizer": {"lr": 2e-2},
            "epochs": 6, "eval_interval": 40, "threads": 1,
            "demp": {"regularizer": {"peak": 0.2}, "noise": {"peak": 1e-3},
                     "death": {"prune_interval": 30}}}

    class SaveAt(Callback):
        def on_eval(self, trainer, metrics):
            if trainer.step == 40:
                trainer.save_checkpoint(out / "ck")

    demp = build_trainer(dict(base, output_dir=str(out / "a")), callbacks=[SaveAt()]).fit()
    resumed = build_trainer(base, resume_from=out / "ck").fit()
    snap = build_trainer(dict(base, method="snap", baseline={"density": 0.5},
                              optimizer={"lr": 1e-2, "name": "sgd", "momentum": 0.9})).fit()
    print(json.dumps({"dynamo": "torch._dynamo" in sys.modules,
                      "removed": 128 - sum(demp["live_units"].values()),
                      "snap_units": sum(snap["live_units"].values()),
                      "resumed_step": resumed["step"], "full_step": demp["step"]}))
"""


def test_whole_trials_never_import_dynamo():
    got = run_fresh(TRIALS)
    assert got["removed"] > 0, "the DemP run must remove units (surgery on the optimizer state)"
    assert got["snap_units"] < 128
    assert got["resumed_step"] == got["full_step"] > 40
    assert got["dynamo"] is False


def test_once_dynamo_is_imported_pytorchs_decorated_methods_run():
    got = run_fresh("""
        import json, torch, torch._dynamo
        from demp.train import optim
        p = torch.nn.Parameter(torch.ones(3))
        opt = optim.AdamW([p], lr=0.1)
        opt.zero_grad()
        p.grad = torch.ones(3)
        opt.step()
        core = torch.optim.Optimizer
        print(json.dumps({
            # torch._disable_dynamo caches its wrapper on the raw function when it runs
            "zero_grad": hasattr(core.zero_grad.__wrapped__, "__dynamo_disable"),
            "add_param_group": hasattr(core.add_param_group.__wrapped__, "__dynamo_disable"),
            "value": p.detach().tolist()}))
    """)
    assert got["zero_grad"] and got["add_param_group"]
    assert got["value"] == pytest.approx([0.899] * 3, abs=1e-6)  # (1 − lr·0.01) − lr·m̂/√v̂
