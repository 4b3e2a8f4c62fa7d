"""redge.quant.methods"""
