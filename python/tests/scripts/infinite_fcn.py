"""neural-tangents' examples/infinite_fcn.py, on the embedded 8x8 digits
instead of CIFAR-10 (DATA: x_train, y_train, x_test, y_test given by the
caller). tests/test_stax.py runs it with its two imports changed to
`import ntk as nt` / `from ntk import stax`; tools/gen_nt_scripts.py ran
it as is under neural-tangents 0.6.5 to make the fixture."""
import numpy as np
import neural_tangents as nt
from neural_tangents import stax

_BATCH_SIZE = 25

x_train, y_train, x_test, y_test = DATA  # noqa: F821 (given by the runner)

# Build the infinite network.
_, _, kernel_fn = stax.serial(
    stax.Dense(1, 2., 0.05),
    stax.Relu(),
    stax.Dense(1, 2., 0.05)
)

# Optionally, compute the kernel in batches, in parallel.
kernel_fn = nt.batch(kernel_fn, device_count=0, batch_size=_BATCH_SIZE)

# Bayesian and infinite-time gradient descent inference with infinite network.
predict_fn = nt.predict.gradient_descent_mse_ensemble(kernel_fn, x_train, y_train, diag_reg=1e-3)
fx_test_nngp, fx_test_ntk = predict_fn(x_test=x_test)
fx_test_nngp = np.asarray(fx_test_nngp)
fx_test_ntk = np.asarray(fx_test_ntk)

loss = lambda fx, y_hat: 0.5 * np.mean((fx - y_hat) ** 2)
accuracy = lambda fx, y_hat: np.mean(np.argmax(fx, axis=1) == np.argmax(y_hat, axis=1))
RESULT = {
    "nngp": fx_test_nngp, "ntk": fx_test_ntk,
    "nngp_loss": loss(fx_test_nngp, y_test), "ntk_loss": loss(fx_test_ntk, y_test),
    "nngp_accuracy": accuracy(fx_test_nngp, y_test), "ntk_accuracy": accuracy(fx_test_ntk, y_test),
}
