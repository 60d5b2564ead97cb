"""`rnn-recipes` with adversarial training on the word embeddings (Miyato, Dai & Goodfellow,
ICLR 2017), a prototype for the findings (session 22); not part of the package.

Each training step takes the clean loss's gradient g with respect to the embedding layer's output
e (per text), adds the perturbation ADV_EPS * ||e|| * g / ||g|| to e (the norm relative to the
text's own embedded sequence, since the recipe's embeddings are not normalized as in the paper)
and trains on clean loss + ADV_ALPHA * perturbed loss. Validation and test are never perturbed.
It patches the embedding layer's ``call`` and the model's ``train_step`` and uses Keras 3's
private ``_compute_loss`` / ``_loss_tracker``: a prototype, tied to the Keras version it ran with
(3.15). To screen it, name it to ``screen.py`` (bench/findings/runs.py runs it in place of the
CLI, and its run folders are told apart from the recipe's):

    ADV_EPS=0.1 FINDINGS_CLI=adversarial.py python screen.py adv-eps0.1
"""

import os
import sys

from keras.src.trainers.data_adapters import data_adapter_utils

from rnn_recipes._lazy import tf
from rnn_recipes.cli import main
from rnn_recipes.tasks import classification as cl

EPS = float(os.environ.get("ADV_EPS", "0.1"))
ALPHA = float(os.environ.get("ADV_ALPHA", "1.0"))
orig_compile = cl.compile_classifier


def patch(model):
    emb = model.get_layer("embedding")
    if getattr(emb, "_adv_patched", False):
        return
    orig_call = emb.call
    emb._adv_delta = None

    def call(inputs, *a, **k):
        out = orig_call(inputs, *a, **k)
        d = emb._adv_delta
        return out if d is None else out + d

    emb.call = call
    emb._adv_patched = True

    def train_step(data):
        x, y, sw = data_adapter_utils.unpack_x_y_sample_weight(data)
        ids = x["token_ids"] if isinstance(x, dict) else x
        dim = emb.output_dim
        zero = tf.zeros(tf.concat([tf.shape(ids), [dim]], 0))
        with tf.GradientTape() as tape:
            with tf.GradientTape() as inner:
                inner.watch(zero)
                emb._adv_delta = zero
                y1 = model(x, training=True)
                loss1 = model._compute_loss(x=x, y=y, y_pred=y1, sample_weight=sw, training=True)
            g = tf.stop_gradient(inner.gradient(loss1, zero))
            e = tf.stop_gradient(tf.gather(emb.embeddings, ids))
            en = tf.norm(e, axis=[1, 2], keepdims=True)
            gn = tf.norm(g, axis=[1, 2], keepdims=True) + 1e-12
            emb._adv_delta = EPS * en * g / gn
            y2 = model(x, training=True)
            loss2 = model._compute_loss(x=x, y=y, y_pred=y2, sample_weight=sw, training=True)
            emb._adv_delta = None
            loss = loss1 + ALPHA * loss2
            model._loss_tracker.update_state(loss1, sample_weight=tf.shape(ids)[0])
        w = model.trainable_weights
        model.optimizer.apply_gradients(zip(tape.gradient(loss, w), w))
        return model.compute_metrics(x, y, y1, sample_weight=sw)

    model.train_step = train_step


def compile_classifier(model, train_config):
    orig_compile(model, train_config)
    patch(model)


cl.compile_classifier = compile_classifier  # the tasks look it up when they compile
sys.exit(main())
