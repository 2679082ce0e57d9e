"""Precision from the hardware (texplain/precision.py): auto resolves to fp32 on a CPU without native
bf16 and to bf16 where it is native; an explicit bf16 there still runs, with a warning naming the
slowdown and the fix; the resolved precision, not 'auto', enters the stage keys."""

import logging

import pytest
import torch

from texplain import precision as precision_module
from texplain.errors import TExplainError
from texplain.precision import CpuBf16Probe, choose_precision, resolve_precision

AVX2_ONLY = CpuBf16Probe("AMD EPYC 7B13", ("avx2",), False, 102.0, 0.9, 2, False)
AMX = CpuBf16Probe("Intel(R) Xeon(R) Processor", ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"), True, 180.0, 420.0, 2, True)


@pytest.fixture
def cpu_is(monkeypatch):
    def set_probe(probe: CpuBf16Probe):
        monkeypatch.setattr(precision_module, "cpu_bf16_probe", lambda cache_dir=None: probe)
        precision_module._warn_once.cache_clear()

    return set_probe


def test_auto_is_fp32_on_a_cpu_without_native_bf16(cpu_is):
    cpu_is(AVX2_ONLY)
    choice = choose_precision("auto", "cpu")
    assert choice.resolved == "fp32"
    assert "no native bf16" in choice.reason and "AMD EPYC" in choice.reason


def test_auto_is_bf16_where_the_cpu_runs_it_natively(cpu_is):
    cpu_is(AMX)
    choice = choose_precision("auto", "cpu")
    assert choice.resolved == "bf16" and "native bf16" in choice.reason


def test_explicit_bf16_without_native_support_warns_with_the_slowdown_and_the_fix(cpu_is, caplog):
    cpu_is(AVX2_ONLY)
    with caplog.at_level(logging.WARNING):
        choice = choose_precision("bf16", "cpu", "train.precision")
    assert choice.resolved == "bf16"  # it still runs
    message = caplog.text
    assert "113.3x slower" in message and "--set train.precision=auto" in message


def test_explicit_fp32_never_probes(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_bf16_probe", lambda cache_dir=None: pytest.fail("probed"))
    assert resolve_precision("fp32", "cpu") == "fp32"


def test_bad_precisions_are_refused():
    with pytest.raises(TExplainError, match="unknown explain.precision 'bf61'"):
        choose_precision("bf61", "cpu", "explain.precision")
    with pytest.raises(TExplainError, match="fp16 autocast is not supported on cpu"):
        choose_precision("fp16", "cpu")


def test_probe_is_measured_once_and_cached_per_machine(tmp_path, monkeypatch):
    calls = []

    def fake_measure():
        calls.append(1)
        return AVX2_ONLY

    monkeypatch.setattr(precision_module, "measure_cpu_bf16", fake_measure)
    precision_module.cpu_bf16_probe.cache_clear()
    try:
        first = precision_module.cpu_bf16_probe(tmp_path)
        precision_module.cpu_bf16_probe.cache_clear()  # a new process: reads the file, measures nothing
        second = precision_module.cpu_bf16_probe(tmp_path)
        assert first == second == AVX2_ONLY and len(calls) == 1
        # A capped instruction set is another machine as far as bf16 speed goes.
        import os

        other_cap = "SSE41" if os.environ.get("ONEDNN_MAX_CPU_ISA") == "AVX2" else "AVX2"  # differ from this machine's
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", other_cap)
        precision_module.cpu_bf16_probe.cache_clear()
        precision_module.cpu_bf16_probe(tmp_path)
        assert len(calls) == 2
        # A corrupt cache file is measured again, not trusted.
        for path in (tmp_path / "machine").glob("*.json"):
            path.write_text("{not json")
        precision_module.cpu_bf16_probe.cache_clear()
        assert precision_module.cpu_bf16_probe(tmp_path) == AVX2_ONLY and len(calls) == 3
    finally:
        precision_module.cpu_bf16_probe.cache_clear()


def test_the_real_probe_measures_both_dtypes():
    probe = precision_module.measure_cpu_bf16()
    assert probe.fp32_gflops > 0 and probe.bf16_gflops > 0
    assert probe.native == (probe.onednn_bf16 and probe.speedup >= precision_module.MIN_BF16_SPEEDUP)
    assert probe.cpu_model


def test_autocast_refuses_an_unresolved_precision():
    from texplain.device import autocast

    with pytest.raises(TExplainError, match="resolved precision"):
        autocast(torch.device("cpu"), "auto")


def test_resolved_precision_enters_the_stage_keys(cpu_is, tmp_path):
    """The same config ('auto') on a bf16-native and on an AVX2-only CPU gives different stage keys; an
    explicit fp32 and an auto that resolves to fp32 share theirs."""
    from harness.config import load_config
    from harness.pipeline.run import EXPLAIN_STAGE_VERSION, _suite_inputs, explain_inputs, resolve_run_precisions
    from harness.pipeline.stages import StageStore

    config = load_config("quickstart")
    assert config.train.precision == "auto" and config.explain.precision == "auto"
    store = StageStore(tmp_path)

    def explain_key(config):
        precisions = resolve_run_precisions(config, torch.device("cpu"))
        inputs = explain_inputs("translator-key", config, precisions["explain"].resolved)
        return store.stage("explain", EXPLAIN_STAGE_VERSION, inputs).key, precisions

    cpu_is(AMX)
    amx_key, amx = explain_key(config)
    cpu_is(AVX2_ONLY)
    avx2_key, avx2 = explain_key(config)
    fp32_key, _ = explain_key(load_config("quickstart", ["explain.precision=fp32", "train.precision=fp32"]))
    assert (amx["train"].resolved, avx2["train"].resolved) == ("bf16", "fp32")
    assert amx_key != avx2_key and avx2_key == fp32_key

    class Suite:
        def config_json(self):
            return {}

    assert _suite_inputs(Suite(), store.stage("translator", 1, {}), {}, config, "bf16")["precision"] == "bf16"


def test_auto_on_cuda_is_bf16_where_supported_else_fp16(monkeypatch, caplog):
    # No GPU here: the CUDA queries are stood in for, so the branch's logic is what is tested.
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100")
    precision_module._warn_once.cache_clear()
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert choose_precision("auto", torch.device("cuda:0")).resolved == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert choose_precision("auto", torch.device("cuda:0")).resolved == "fp16"
    with caplog.at_level(logging.WARNING):
        assert choose_precision("bf16", torch.device("cuda:0"), "train.precision").resolved == "bf16"
    assert "Tesla V100" in caplog.text and "--set train.precision=auto" in caplog.text
