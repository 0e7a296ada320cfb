import pytest

from bomix.config import fingerprint, instantiate
from bomix.errors import BomixError
from bomix.policies.heuristics import RandomPolicy


def test_instantiate_drops_name_and_builds():
    pol = instantiate({"name": "random", "_target_": "bomix.policies.heuristics.RandomPolicy", "alpha": 2.0}, "policy")
    assert isinstance(pol, RandomPolicy) and pol.alpha == 2.0


def test_instantiate_errors_are_one_line():
    with pytest.raises(BomixError, match="no _target_"):
        instantiate({"name": "x"}, "policy")
    with pytest.raises(BomixError, match="not allowed"):
        instantiate({"_target_": "os.system", "command": "true"}, "policy")
    with pytest.raises(BomixError, match=r"unknown option nonsense \(valid here: alpha, scale, steps\)"):
        instantiate({"_target_": "bomix.policies.heuristics.RandomPolicy", "nonsense": 1}, "policy")
    with pytest.raises(BomixError, match="alpha: Value 'many' of type 'str' could not be converted to Float"):
        instantiate({"_target_": "bomix.policies.heuristics.RandomPolicy", "alpha": "many"}, "policy")
    with pytest.raises(BomixError, match="alpha must be > 0"):
        instantiate({"_target_": "bomix.policies.heuristics.RandomPolicy", "alpha": -1}, "policy")


def test_allow_list_env(monkeypatch):
    monkeypatch.setenv("BOMIX_ALLOW_TARGETS", "collections.")
    assert instantiate({"_target_": "collections.OrderedDict"}, "policy") == {}


def test_fingerprint_ignores_budget_and_executor():
    a = fingerprint({"budget": 1, "seed": 0, "executor": {"name": "inline"}, "policy": {"name": "random"}})
    b = fingerprint({"budget": 9, "seed": 0, "executor": {"name": "process"}, "policy": {"name": "random"}})
    assert a == b
    assert fingerprint({"seed": 1}) != fingerprint({"seed": 0})


# ----- one source of defaults -------------------------------------------------------------------
from pathlib import Path  # noqa: E402

from omegaconf import OmegaConf  # noqa: E402

from bomix.config import (  # noqa: E402
    GROUPS, OPERATIONAL_KEYS, config_diff, defaults, group_target, normalized, schema,
)

CONF = Path(__file__).resolve().parent.parent / "conf"
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"

#: Keys a conf/ file may state although the constructor has a default for them: each must DIFFER from
#: the Python default (a key equal to it belongs in Python only). Required arguments (no Python default,
#: e.g. an online policy's ``controller``) are stated freely. Why each one below differs:
EXCEPTIONS = {
    # the command line's synthetic problem is noisy and heteroscedastic like real runs; SyntheticBackend()
    # stays noise-free so that unit tests can compare exact values
    "backend/synthetic.yaml": {"noise", "hetero",
                               # from the problem's synthetic block when it has one (problem=synthetic_tasks)
                               "tasks",
                               # the annealing law, off (null) unless the problem's synthetic block sets it
                               # (problem=synthetic_phases)
                               "anneal"},
    # the prebuilt RegMix simulator shipped in the repository (ReplayBackend needs a path)
    "backend/regmix.yaml": {"path"},
    # REQUIRED argument without a default: stated as null so that backend.path=DIR is a plain override
    "backend/replay.yaml": {"path"},
    # from the problem's trainer block when it has one, else TrainerBackend's default (bomix.from_problem);
    # data_dir has no Python default
    "backend/trainer.yaml": {"data_dir", "ladder", "scales", "min_steps", "max_steps", "step_grid", "target_scale",
                             "eval_every", "batch_size", "context", "eval_sequences", "lr", "warmup",
                             # the problem's bounds and repetition cap, for online controllers' projections
                             "lower", "upper", "max_epochs"},
    # the online methods' papers start from the uniform mixture (OnlinePolicy's "auto" = the problem's prior)
    "policy/aioli.yaml": {"init"},
    "policy/doge.yaml": {"init"},
    "policy/doremi.yaml": {"init"},
    "policy/doremi_online.yaml": {"init"},
    "policy/skillit.yaml": {"init"},
    # Sheared LLaMA's reference losses come from a scaling law, not a trained reference model
    "policy/sheared.yaml": {"reference"},
    # the variant of RegMix that uses linear regression
    "policy/regmix_linear.yaml": {"kind"},
    # two local workers from the command line (ProcessExecutor() picks one per CPU)
    "executor/process.yaml": {"workers"},
    # the problems' own objectives and constraints
    "problem/mfms_mean7.yaml": {"objective"},
    "problem/mfms_stackexchange.yaml": {"objective"},
    "problem/regmix_pilecc.yaml": {"objective"},
    "problem/synthetic_bounded.yaml": {"objective", "lower", "upper", "tokens"},
    "problem/synthetic_tasks.yaml": {"objective", "constraints"},
    "problem/synthetic_phases.yaml": {"phases"},
    "problem/synthetic_anneal.yaml": {"phases"},
    "problem/regmix_mean13.yaml": {"objective", "constraints"},
    "problem/regmix_code_web.yaml": {"objective", "objectives"},
    "problem/synthetic_moo.yaml": {"objective", "objectives", "preference"},
    "problem/synthetic_moo3.yaml": {"objective", "objectives"},
}
#: keys that are not constructor arguments
NON_ARGS = {"_target_", "name", "defaults", "trainer", "synthetic"}


def _options():
    return [(g, p) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]


@pytest.mark.parametrize("group, path", _options(), ids=lambda x: getattr(x, "name", x))
def test_yaml_states_only_what_differs_from_python(group, path):
    node = OmegaConf.to_container(OmegaConf.load(path))
    target = group_target(group, node)
    assert target, f"{path} has no _target_"
    python = defaults(target)
    rel = f"{group}/{path.name}"
    allowed = EXCEPTIONS.get(rel, set())
    for key, value in node.items():
        if key in NON_ARGS:
            continue
        assert key in python, f"{rel}: {key} is not an option of {target}"
        if python[key] == "???":
            continue  # a required argument: no Python default to differ from (the build test checks it)
        assert key in allowed, f"{rel}: {key}={value!r} is not in the exception list (Python default: " \
                               f"{python.get(key, '<none>')!r}); state it in Python, or list why it differs"
        if not (isinstance(value, str) and "${" in value):
            assert normalized(value) != normalized(python[key]), f"{rel}: {key} equals the Python default: drop it"
    assert not set(allowed) - set(node), f"{rel}: stale exception list entries {set(allowed) - set(node)}"


@pytest.mark.parametrize("group, path", _options(), ids=lambda x: getattr(x, "name", x))
def test_every_option_composes_with_the_python_defaults_and_builds(group, path, tmp_path):
    from bomix.app import _problem_config, compose

    extra = {"trainer": [f"backend.checkpoint_dir={tmp_path}", f"backend.data_dir={tmp_path / 'no-data'}"],
             "fixed": ["policy.mixture=[0.5,0.5,0,0,0]"]}
    cfg = compose([f"{group}={path.stem}", *extra.get(path.stem, [])])
    node = OmegaConf.to_container(cfg[group], resolve=False)
    target = group_target(group, node)
    for key in defaults(target):  # every constructor argument is a key
        assert key in node, f"{group}={path.stem}: {key} missing"
    if group == "problem":
        _problem_config(cfg)
        return
    if group == "backend" and path.stem in ("trainer", "replay", "mfms"):
        if path.stem == "mfms" and (SHARED / "mfms").exists():
            instantiate(cfg[group], group).close()
        else:  # needs data the repository does not ship: the error is one line saying what to do
            with pytest.raises(BomixError):
                instantiate(cfg[group], group)
        return
    if group == "executor" and path.stem in ("ray", "slurm"):
        pytest.importorskip({"ray": "ray", "slurm": "submitit"}[path.stem])
    if group == "policy" and path.stem == "fixed":
        obj = instantiate(cfg[group], group)
        assert obj.evaluate is True
        return
    obj = instantiate(cfg[group], group)
    if group == "backend":
        obj.close()


def test_options_are_typed_at_composition_and_only_the_chosen_components_are_imported():
    """A wrong type or an unknown key fails while composing (one line through the CLI, see test_cli_errors);
    composing imports only what was chosen (the defaults are read from the constructors lazily)."""
    import subprocess
    import sys

    from hydra.errors import ConfigCompositionException

    from bomix.app import compose

    with pytest.raises(ConfigCompositionException, match="backend.k=2.5") as info:
        compose(["backend.k=2.5"])
    assert "could not be converted to Integer" in str(info.value.__cause__)
    with pytest.raises(ConfigCompositionException):
        compose(["policy=random", "policy.nonsense=1"])
    assert compose(["policy=random", "policy.alpha=2"]).policy.alpha == 2.0  # an int where a float goes
    code = ("import sys; from bomix.app import compose; cfg = compose(['policy=random']); "
            "print(cfg.policy.alpha, 'torch' in sys.modules, 'bomix.policies.bo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["1.0", "False", "False"]


def test_schema_follows_kwargs_up_the_class_hierarchy():
    """A subclass that forwards ``**kw`` has its base's options too, with its own defaults winning."""
    import dataclasses

    fields = {f.name: f for f in dataclasses.fields(schema("bomix.policies.bo.MFKGPolicy"))}
    assert fields["max_obs"].default == 200  # MFKGPolicy's own default, not GPPolicy's 2000
    assert "rec_kappa" in fields and "min_step_frac" in fields  # inherited from GPPolicy through **kw


def test_python_constructors_are_the_cli_algorithms():
    from bomix.app import compose
    from bomix.executors.slurm import SubmititExecutor
    from bomix.policies.bo import MFBOPolicy, MFKGPolicy, MFMESPolicy

    for cls, name in [(MFBOPolicy, "mfbo"), (MFKGPolicy, "mfkg"), (MFMESPolicy, "mfmes")]:
        cli = instantiate(compose([f"policy={name}"]).policy, "policy")
        py = cls()
        assert vars(cli).keys() == vars(py).keys()
        for k, v in vars(py).items():
            assert repr(getattr(cli, k)) == repr(v), (name, k)
    assert MFBOPolicy().gp_cfg.law is True  # the mixing-law basis (it replaced the linear prior mean)
    assert MFKGPolicy().max_obs == 200 == MFMESPolicy().max_obs
    ex = instantiate(compose(["executor=slurm"]).executor, "executor")
    assert vars(ex) == vars(SubmititExecutor())


def test_trainer_settings_come_from_the_problem_or_python():
    from bomix.app import compose
    from bomix.backends.trainer.train import TrainConfig

    cfg = compose(["backend=trainer", "problem=gpu_ladder"])
    assert cfg.backend.lr == 6e-4 and cfg.backend.warmup == 2000 and cfg.backend.weight_decay == TrainConfig.weight_decay
    cfg = compose(["backend=trainer"])
    assert cfg.backend.lr == TrainConfig.lr and cfg.backend.ladder == "cpu" and cfg.backend.max_steps == 1000
    cfg = compose(["backend=trainer", "problem=demo_cpu", "backend.lr=0.01"])
    assert cfg.backend.lr == 0.01 and cfg.backend.max_steps == 500


def test_operational_keys_and_diff():
    assert "budget" in OPERATIONAL_KEYS and "batch_size" in OPERATIONAL_KEYS and "seed" not in OPERATIONAL_KEYS
    a = {"seed": 0, "policy": {"name": "random", "alpha": 1.0}, "backend": {"delay": 0.0, "k": 5}}
    b = {"seed": 3, "policy": {"name": "random", "alpha": 1}, "backend": {"delay": 0.5, "k": 5}, "log_level": "INFO"}
    assert fingerprint(a) != fingerprint(b)
    assert config_diff(fingerprint(a), fingerprint(b)) == "seed: 0 -> 3"  # alpha 1 == 1.0; delay, log_level operational
    assert fingerprint({"backend": {"delay": 1.0, "k": 5}}) == {"backend": {"k": 5}}


def test_threads_pins_the_campaign_process_and_is_operational(tmp_path):
    import torch

    from bomix.app import compose, run_from_config

    assert fingerprint({"seed": 0, "threads": 2}) == fingerprint({"seed": 0})  # older campaigns resume unchanged
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        run_from_config(compose(["policy=random", "budget=1", "threads=1", "progress=false"]), tmp_path / "c")
        assert torch.get_num_threads() == 1  # before the policy's first fit
        run_from_config(compose(["policy=random", "budget=1", "threads=null", "progress=false", "seed=1"]),
                        tmp_path / "d")
        assert torch.get_num_threads() == 1  # null: left as it was
    finally:
        torch.set_num_threads(before)
