"""neural-tangents' README WideResnet, its kernel on small images and the
infinite ensemble's predictions at a finite time (DATA: x_train, y_train,
x_test given by the caller; 8x8x3 images, so the final AvgPool is (2, 2)
instead of the README's (8, 8) for 32x32). tests/test_stax.py runs it with
its two imports changed; tools/gen_nt_scripts.py ran it as is under
neural-tangents 0.6.5."""
import numpy as np
import neural_tangents as nt
from neural_tangents import stax


def WideResnetBlock(channels, strides=(1, 1), channel_mismatch=False):
  Main = stax.serial(
      stax.Relu(), stax.Conv(channels, (3, 3), strides, padding='SAME'),
      stax.Relu(), stax.Conv(channels, (3, 3), padding='SAME'))
  Shortcut = stax.Identity() if not channel_mismatch else stax.Conv(
      channels, (3, 3), strides, padding='SAME')
  return stax.serial(stax.FanOut(2),
                     stax.parallel(Main, Shortcut),
                     stax.FanInSum())


def WideResnetGroup(n, channels, strides=(1, 1)):
  blocks = []
  blocks += [WideResnetBlock(channels, strides, channel_mismatch=True)]
  for _ in range(n - 1):
    blocks += [WideResnetBlock(channels, (1, 1))]
  return stax.serial(*blocks)


def WideResnet(block_size, k, num_classes):
  return stax.serial(
      stax.Conv(16, (3, 3), padding='SAME'),
      WideResnetGroup(block_size, int(16 * k)),
      WideResnetGroup(block_size, int(32 * k), (2, 2)),
      WideResnetGroup(block_size, int(64 * k), (2, 2)),
      stax.AvgPool((2, 2)),
      stax.Flatten(),
      stax.Dense(num_classes, 1., 0.))


x_train, y_train, x_test = DATA  # noqa: F821 (given by the runner)
init_fn, apply_fn, kernel_fn = WideResnet(block_size=2, k=1, num_classes=2)
kernel_fn = nt.batch(kernel_fn, batch_size=4)
k = kernel_fn(x_test, x_train, ('nngp', 'ntk'))
predict_fn = nt.predict.gradient_descent_mse_ensemble(kernel_fn, x_train, y_train,
                                                      learning_rate=0.5, diag_reg=1e-4)
fx = predict_fn(t=10.0, x_test=x_test, get='ntk')
RESULT = {"nngp": np.asarray(k.nngp), "ntk": np.asarray(k.ntk), "fx_ntk_t10": np.asarray(fx)}
