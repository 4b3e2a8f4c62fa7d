"""redge.deploy"""
