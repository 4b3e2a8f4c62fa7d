"""redge.quant: recipes -> quantized recursive reasoners, with fake-quant and packed-kernel paths.

    from redge.quant import load_checkpoint, quantize_, set_mode
    model = load_checkpoint(path)                                 # official, redge or quantized (see quant.load)
    model = quantize_(model, "int4-channel-cal", calib=batches)   # report: model.quant_report
    set_mode(model, "packed")                                     # real int8/int4 kernels
    qw = model.lm_head.quantized_weight()                         # codes, scales, zeros, bits, granularity, g
"""
from redge.quant.apply import QuantReport, plan, quantize_, set_mode
from redge.quant.io import load_quantized, save_quantized
from redge.quant.load import load_checkpoint, read_config
from redge.quant.modules import QuantEmbedding, QuantLinear
from redge.quant.observe import ActivationStats, collect_stats
from redge.quant.qtensor import (
           QuantizedWeight,
           pack_codes,
           quantize_weight,
           unpack_codes,
)
from redge.quant.spec import PRESETS, QuantRecipe, QuantSpec, Rule, load_recipe

__all__ = ["PRESETS", "ActivationStats", "QuantEmbedding", "QuantLinear", "QuantRecipe", "QuantReport", "QuantSpec",
           "QuantizedWeight", "Rule", "collect_stats", "load_checkpoint", "load_quantized", "load_recipe", "pack_codes",
           "plan", "quantize_", "quantize_weight", "read_config", "save_quantized", "set_mode", "unpack_codes"]
