"""redge.study"""
