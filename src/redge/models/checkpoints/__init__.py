"""Float checkpoints: importing official TRM/HRM weights and redge's own safetensors format.

One module per job:

* `official`: official `torch.save` state dicts (`_orig_mod.model.inner.` prefixes, EMA, `all_config.yaml`);
* `infer`: the architecture from tensor shapes when no config file is present (assumptions listed);
* `redge_format`: redge's format (safetensors + config.json, sharded, row blocks) and `save_checkpoint`;
* `overrides`: config overrides at load time, refused when they would change a stored shape;
* `state`: the key/shape check of a state dict and building the model from it;
* `load`: the float formats by path (`read_checkpoint`, `read_float_config`, `load_float_checkpoint`).

This package knows nothing of quantization (models sit below quant). The one entry point that loads every format,
quantized checkpoints included, is `redge.quant.load.load_checkpoint` (also `redge.quant.load_checkpoint`).
"""
from redge.models.checkpoints.info import CheckpointInfo
from redge.models.checkpoints.load import (
           load_float_checkpoint,
           read_checkpoint,
           read_float_config,
)
from redge.models.checkpoints.overrides import apply_overrides
from redge.models.checkpoints.redge_format import config_from_doc, save_checkpoint
from redge.models.checkpoints.state import check_state_dict

__all__ = ["CheckpointInfo", "apply_overrides", "check_state_dict", "config_from_doc", "load_float_checkpoint",
           "read_checkpoint", "read_float_config", "save_checkpoint"]
