"""redge.tasks"""
