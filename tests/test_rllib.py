"""RLlib trains K PPO learners among the crowd through the PettingZoo env (needs the [rllib] extra)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("ray.rllib")
import ray  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import rllib_multi_agent  # noqa: E402


@pytest.fixture(scope="module")
def ray_session():
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


@pytest.mark.parametrize("separate", [False, True])
def test_one_iteration_trains_every_policy(ray_session: None, separate: bool) -> None:
    algo = rllib_multi_agent.build(learners=2, separate=separate, max_cycles=50, batch=100)
    try:
        result = algo.train()
        runners = result["env_runners"]
        assert runners["num_env_steps_sampled"] >= 100
        trained = set(result["learners"]) - {"__all_modules__"}
        assert trained == ({"NoiseTrader_00", "NoiseTrader_01"} if separate else {"shared"})
    finally:
        algo.stop()


def test_example_cli_runs_one_iteration(capsys: pytest.CaptureFixture[str]) -> None:
    assert rllib_multi_agent.main(["--learners", "2", "--iterations", "1", "--max-cycles", "50", "--batch", "100"]) == 0
    out = capsys.readouterr().out
    assert "iteration 1:" in out and "env steps/s" in out
    assert rllib_multi_agent.main(["--iterations", "0"]) == 2
