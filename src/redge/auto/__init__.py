"""`redge autocompress`: the recipe to ship for a target, chosen without labels (issue 16).

`space` (what may be searched, restricted to what the target's C runtime accepts), `trajectory` (the FP32 reference
computed once, label-free scoring of a candidate against it), `search` (sensitivity, greedy, depth under a latency
budget), `verify` (exact accuracy afterwards, with labels the search never saw), `outputs` (the files to flash).
"""
