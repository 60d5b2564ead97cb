import keras

from rnn_recipes.export import portable_rnn_kernels


def test_portable_kernels_switch_off_cudnn_everywhere_and_restore():
    inputs = keras.Input(shape=(None, 3))
    x = keras.layers.Bidirectional(keras.layers.LSTM(2, return_sequences=True))(inputs)
    x = keras.layers.GRU(2)(x)
    model = keras.Model(inputs, x)
    rnns = [layer for layer in model._flatten_layers() if hasattr(layer, "use_cudnn")]
    assert len(rnns) >= 3  # forward + backward LSTM and the GRU
    assert all(layer.use_cudnn == "auto" for layer in rnns)
    with portable_rnn_kernels(model):
        assert all(layer.use_cudnn is False for layer in rnns)
    assert all(layer.use_cudnn == "auto" for layer in rnns)
