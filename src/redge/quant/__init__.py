"""redge.quant"""
