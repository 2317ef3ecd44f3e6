"""Driver layer: what runs on the machine that starts a search, before, around and after Ray Tune.

    plan.py      check every input, settle one frozen Settings; nothing heavy, no Ray
    settings.py  Settings, UsageError, and the flags --resume refuses and the settings it keeps
    warm.py      --warm-start: an earlier experiment's finished trials, for the sampler
    record.py    search.json: what the experiment ran with, for --resume and for analysis
    weights.py   backbone weights checked before any trial: ImageNet's downloaded once, a file loaded
    features.py  backbone features computed once (a spawned child) and cached for extractor spaces
    child.py     the driver's child processes, which die with it
    disk.py      the free-space guard: a search stops cleanly before its disk is full
    cluster.py   the Ray a search runs on (--address checked); GPUs and CPUs as Ray counts them
    tuner.py     the one place that builds a Ray Tune Tuner (new or restored)
    best.py      the test scores of the best trial and of the ensemble of the best (best_test.json)
    search.py    one search from start to report: data, Ray, fit, report, the last line

Dependencies point one way: run_search.py -> driver -> search_spaces -> trainables; the driver
also calls analysis (the report). Nothing in trainables or analysis imports the driver.
"""
