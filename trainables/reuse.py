"""Compiled models kept across the trials of one process (a reused Ray actor), so a trial does not
trace Keras's train and test functions again.

Tracing the train and test steps costs a BaseNet trial more than a later digits epoch (Python
building the graphs: forward, gradient, one optimizer update per variable, metrics; then
Grappler; docs/benchmarks.md, "Mechanisms in the code"). What a traced function bakes in is the
model's structure, the optimizer's class and constant settings, steps_per_execution and the
precision policy; the
learning rate and a weight average's momentum are variables already, and the batch size is not
baked in (the datasets' batch dimension is unknown). The one searched hyperparameter baked in is
each Dropout layer's rate: here it reads two variables instead (rate and 1 / (1 - rate)),
computed exactly as TensorFlow's dropout computes them, so a kept model trains bit for bit as a
fresh one.

`compiled(fresh, config, spe)` takes the fresh model, built as before (same seed, so the same
initial weights), and, when a kept model has the same key, copies the fresh model's variables
(weights, BatchNorm statistics, the Dropout layers' random-seed states), a new optimizer's
initial state and the Dropout rates into the kept one, and returns that: the fresh model is not
even compiled. Checkpoints and weights files are the same either way: the rate variables
belong to no layer. Transfer models are never kept (large, and recompiled between phases).
"""

from __future__ import annotations

import json
from collections import OrderedDict

import keras
import numpy as np
import tensorflow as tf

from trainables import models, optimizers

CACHE_SIZE = 8  # kept models per process: a search on one architecture keeps one per optimizer
# and at most this many parameters in all (weights and up to 2 optimizer slots each: about 200 MB
# at 16M; BaseNet has 62k, MiRed v5 1.9M, v3 3.7M), the oldest going first
CACHE_PARAMS = 16_000_000
# A process-wide cache: the kept compiled models, by what their traced functions bake in (`_key`).
_CACHE: OrderedDict = OrderedDict()
# A process-wide cache beside it: id(kept Dropout layer) -> (rate variable, scale variable).
_RATES: dict = {}


def compiled(fresh, config: dict, spe: int, ema_momentum: float | None = None):
    """A compiled model equal in every variable to `fresh` (just built: the seed gave its initial
    weights) compiled with the config's optimizer (keeping a weight average at `ema_momentum`) and
    `spe` steps per execution: a kept one when this process has one of the same structure, else
    `fresh` itself (kept for next time). Only a new model is compiled."""
    settings = (config["optimizer"], config["learning_rate"], spe, ema_momentum)
    if models.backbone_of(config["model"]):  # transfer models: large, recompiled between phases
        optimizers.compile(fresh, *settings)
        return fresh
    optimizer = optimizers.make(config["optimizer"], config["learning_rate"], ema_momentum)
    key = _key(fresh, optimizer, spe)
    kept = _CACHE.get(key)
    if kept is None:
        optimizers.compile(fresh, *settings)
        _variable_dropout(fresh)
        _variable_schedule(optimizers.inner(fresh.optimizer))
        _CACHE[key] = fresh
        while len(_CACHE) > 1 and (len(_CACHE) > CACHE_SIZE or sum(
                m.count_params() for m in _CACHE.values()) > CACHE_PARAMS):
            _forget(_CACHE.popitem(last=False)[1])
        return fresh
    _CACHE.move_to_end(key)
    _copy_state(fresh, optimizer, kept)
    return kept


def clear() -> None:
    """Forget every kept model (tests)."""
    while _CACHE:
        _forget(_CACHE.popitem()[1])


def _forget(kept) -> None:
    for layer in kept._flatten_layers():
        _RATES.pop(id(layer), None)


def _key(fresh, optimizer, spe: int) -> str:
    """Everything the traced functions bake in: layers (without names, seeds, dropout rates),
    optimizer class and settings (learning rate aside unless it is a schedule),
    steps_per_execution, precision policy (loss and metrics are every model's:
    optimizers.compile)."""
    def layer(l):
        c = {k: v for k, v in l.get_config().items() if k not in ("name", "seed")}
        if type(l) is keras.layers.Dropout:  # its rate is a variable (_variable_dropout), but
            c["rate"] = c["rate"] > 0        # Keras gives a 0-rate Dropout no seed state
        return [type(l).__name__, c, [list(map(str, w.shape)) for w in l.weights]]

    opt = optimizer.get_config()
    opt.pop("ema_momentum", None)  # a variable when use_ema (optimizers._averaging)
    lr = opt.pop("learning_rate", None)
    if isinstance(lr, dict):  # a schedule: its rate is made a variable (_variable_schedule)
        opt["learning_rate"] = {**lr, "config": {**lr["config"], "initial_learning_rate": None}}
    opt.pop("name", None)
    return json.dumps([[layer(l) for l in fresh._flatten_layers(include_self=False)],
                       type(optimizer).__name__, opt, spe,
                       keras.mixed_precision.global_policy().name],
                      sort_keys=True, default=str)


def _copy_state(fresh, optimizer, kept) -> None:
    """Into `kept`: the fresh model's variables (weights, BatchNorm statistics, the Dropout
    layers' seed states) and Dropout rates, and the initial state of `optimizer` (a new one of
    the trial's kind and rate: step 0, its rate, its slots and weight averages as it builds
    them, its averages' momentum; under mixed_float16, wrapped as Keras wraps it at compile, so
    the loss scale starts again too)."""
    if isinstance(kept.optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(kept.trainable_variables)
    pairs = list(zip(fresh.variables, kept.variables))
    pairs += list(zip(optimizer.variables, kept.optimizer.variables))
    if len(fresh.variables) != len(kept.variables) or \
            len(optimizer.variables) != len(kept.optimizer.variables):
        raise RuntimeError("kept model does not match its key")  # a bug in _key
    for source, target in pairs:
        target.assign(source.value)
    for f, k in zip(_dropouts(fresh), _dropouts(kept)):
        _set_rate(k, f.rate)
    new, old = optimizers.inner(optimizer), optimizers.inner(kept.optimizer)
    if new.use_ema:
        old.ema_momentum.assign(new.ema_momentum)
    if hasattr(old._learning_rate, "initial_learning_rate"):
        old._learning_rate.initial_learning_rate.assign(
            np.float32(new._learning_rate.initial_learning_rate))


def _dropouts(m) -> list:
    """`m`'s Dropout layers of a rate above 0 (not its subclasses: spatial dropout and others
    keep their rate, and it stays in the key)."""
    return [l for l in m._flatten_layers(include_self=False)
            if type(l) is keras.layers.Dropout and l.rate > 0]


def _set_rate(layer, rate: float) -> None:
    rate_var, scale_var = _RATES[id(layer)]
    rate_var.assign(np.float32(rate))
    scale_var.assign(np.float32(1 / (1 - rate)))  # as tf.nn's dropout: float64, then the dtype


def _variable_schedule(optimizer) -> None:
    """A schedule's initial rate as a variable (SGD's InverseTimeDecay, trainables/optimizers.py):
    the schedule converts it to a float32 tensor either way, so the numbers are the same."""
    schedule = optimizer._learning_rate
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule) and \
            isinstance(getattr(schedule, "initial_learning_rate", None), float):
        schedule.initial_learning_rate = tf.Variable(
            np.float32(schedule.initial_learning_rate), trainable=False)


def _variable_dropout(m) -> None:
    """Each Dropout layer of `m` reads its rate from variables: keras's Dropout.call and
    tf.nn.experimental.stateless_dropout, step by step (same seed draw, same uniform numbers,
    mask `u >= rate`, kept values times 1 / (1 - rate)). Layers of rate 0 are left alone (Keras
    gives them no seed state, so a 0 rate is part of the key)."""
    from keras.src.backend.tensorflow.random import _cast_seed, _get_concrete_noise_shape
    from keras.src.random.seed_generator import draw_seed

    for layer in _dropouts(m):
        rate_var = tf.Variable(0.0, trainable=False, dtype=tf.float32)
        scale_var = tf.Variable(1.0, trainable=False, dtype=tf.float32)
        _RATES[id(layer)] = (rate_var, scale_var)
        _set_rate(layer, layer.rate)

        def call(inputs, training=False, layer=layer, rate_var=rate_var, scale_var=scale_var):
            if not training:
                return inputs
            seed = _cast_seed(draw_seed(layer.seed_generator))
            shape = _get_concrete_noise_shape(inputs, layer.noise_shape)
            uniform = tf.random.stateless_uniform(shape, seed=seed, dtype=inputs.dtype, alg=None)
            kept = inputs * tf.cast(scale_var, inputs.dtype)
            return tf.where(uniform >= tf.cast(rate_var, inputs.dtype), kept,
                            tf.zeros([], inputs.dtype))

        layer.call = call
