"""redge.train"""
