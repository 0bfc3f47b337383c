"""High-precision reference values of closed-form dual activations.

Evaluates neural-tangents' closed forms (Han et al. 2022, §2 of our research
notes; J_n arc-cosine forms for RectifiedMonomial n <= 3) in mpmath at 40
significant digits, at covariance points including the paper's A = (1, 1, 0.3)
and B = (0.7, 1.6, -0.5), and spot-checks a few against nested mpmath
quadrature of E[sigma(u) sigma(v)]. Writes
crates/dual-activations/tests/fixtures/closed_form_reference.json.

Run: python3 tools/gen_dual_reference.py   (needs mpmath; tests never run Python)
"""
import json
import sys
from mpmath import mp, mpf, sqrt, atan2, atan, pi, exp, cos, sin, erf, expm1, factorial, asin

mp.dps = 40

POINTS = [
    ("A", mpf(1), mpf(1), mpf("0.3")),
    ("B", mpf("0.7"), mpf("1.6"), mpf("-0.5")),
    ("C", mpf(4), mpf("0.25"), mpf("0.9")),
    ("D", mpf("2.5"), mpf("0.3"), mpf("-0.85")),
    ("E", mpf("0.05"), mpf("9"), mpf("0.4")),
]


def theta(qx, qy, c):
    s = sqrt(max(qx * qy - c * c, 0))
    if s == 0 and c == 0:
        return pi / 2
    return atan2(s, c)


def ab_relu(a, b):
    def f(qx, qy, c):
        t = theta(qx, qy, c)
        fa = (a - b) ** 2 / (2 * pi)
        kd = (a * a + b * b) / 2 - fa * t
        return fa * sqrt(max(qx * qy - c * c, 0)) + kd * c, kd
    return f


def erf_k(a, b, c0):
    def f(qx, qy, c):
        tx, ty, tc = b * b * qx, b * b * qy, b * b * c
        r = sqrt((1 + 2 * tx) * (1 + 2 * ty) - 4 * tc * tc)
        return a * a * 2 / pi * asin(2 * tc / sqrt((1 + 2 * tx) * (1 + 2 * ty))) + c0 * c0, a * a * b * b * 4 / pi / r
    return f


def gelu(qx, qy, c):
    p = qx * qy
    p1 = (1 + qx) * (1 + qy)
    d2 = p1 - c * c
    d = sqrt(d2)
    k = c / 4 + ((c * c + p * d2) / (p1 * d) + c * atan(c / d)) / (2 * pi)
    kd = mpf(1) / 4 + atan(c / d) / (2 * pi) + c / (2 * pi * d) * (1 / d2 + (1 - p) / p1 + 1)
    return k, kd


def sin_k(a, b, ph):
    def f(qx, qy, c):
        s = qx + qy
        s1 = exp(-b * b * (s - 2 * c) / 2)
        s2 = cos(2 * ph) * exp(-b * b * (s + 2 * c) / 2)
        return a * a / 2 * (s1 - s2), a * a * b * b / 2 * (s1 + s2)
    return f


def rbf(g):
    return lambda qx, qy, c: (exp(-g * (qx + qy - 2 * c)), 2 * g * exp(-g * (qx + qy - 2 * c)))


def exp_k(a, b):
    return lambda qx, qy, c: (a * a * exp(b * b * ((qx + qy) / 2 + c)), a * a * b * b * exp(b * b * ((qx + qy) / 2 + c)))


def gaussian(a, b):
    def f(qx, qy, c):
        d = sqrt((1 - 2 * b * qx) * (1 - 2 * b * qy) - 4 * b * b * c * c)
        return a * a / d, 4 * a * a * b * b * c / d ** 3
    return f


def exp_normalized(g, shift):
    def f(qx, qy, c):
        s = sqrt(max(qx * qy, mpf("1e-30")))
        e = exp(g * (c / s + shift))
        return s * e, g * e
    return f


def monomial_k(n, qx, qy, c):
    p = qx * qy
    table = [1, c, 2 * c * c + p, 6 * c ** 3 + 9 * c * p, 24 * c ** 4 + 72 * p * c * c + 9 * p * p,
             120 * c ** 5 + 600 * p * c ** 3 + 225 * p * p * c]
    return table[n] if n >= 0 else 0


def monomial(n):
    return lambda qx, qy, c: (monomial_k(n, qx, qy, c), n * n * monomial_k(n - 1, qx, qy, c))


def j(n, t):
    s, co = sin(t), cos(t)
    return [pi - t, s + (pi - t) * co, 3 * s * co + (pi - t) * (1 + 2 * co * co),
            4 * s ** 3 + 15 * s * co * co + (pi - t) * (9 * s * s * co + 15 * co ** 3)][n]


def rect_monomial(n):
    def f(qx, qy, c):
        t = theta(qx, qy, c)
        k = (qx * qy) ** (mpf(n) / 2) * j(n, t) / (2 * pi)
        kd = 0 if n == 0 else n * n * (qx * qy) ** (mpf(n - 1) / 2) * j(n - 1, t) / (2 * pi)
        return k, kd
    return f


def polynomial(coef):
    D = len(coef)

    def radial(cf, l, q):
        tot = mpf(0)
        i = 0
        while l + 2 * i < len(cf):
            tot += cf[l + 2 * i] * factorial(l + 2 * i) / (2 ** i * factorial(i) * sqrt(factorial(l))) * q ** (mpf(l + 2 * i) / 2)
            i += 1
        return tot

    def f(qx, qy, c):
        rho = c / sqrt(qx * qy)
        k = sum(radial(coef, l, qx) * radial(coef, l, qy) * rho ** l for l in range(D))
        dc = [k_ * coef[k_] for k_ in range(1, D)]
        kd = sum(radial(dc, l, qx) * radial(dc, l, qy) * rho ** l for l in range(len(dc)))
        return k, kd
    return f


def hermite_exact(n):
    # E[h_n(u) h_n(v)] by the dilation identity (independent of the Rust sum form):
    # c_l(r) = r^l (r^2-1)^i sqrt(n!)/(i! 2^i sqrt(l!)), l = n - 2i.
    def coeffs(m, r):
        out = {}
        for i in range(m // 2 + 1):
            l = m - 2 * i
            out[l] = r ** l * (r * r - 1) ** i * sqrt(factorial(m)) / (factorial(i) * 2 ** i * sqrt(factorial(l)))
        return out

    def f(qx, qy, c):
        rx, ry = sqrt(qx), sqrt(qy)
        rho = c / (rx * ry)
        cx, cy = coeffs(n, rx), coeffs(n, ry)
        k = sum(cx[l] * cy[l] * rho ** l for l in cx)
        if n == 0:
            return k, mpf(0)
        dx, dy = coeffs(n - 1, rx), coeffs(n - 1, ry)
        kd = n * sum(dx[l] * dy[l] * rho ** l for l in dx)
        return k, kd
    return f


def gabor(qx, qy, c):
    s = qx + qy
    delta = 4 * (qx * qy - c * c)
    d = 1 + 2 * s + delta
    el = exp(-(s + delta + 2 * c) / (2 * d))
    er = exp(2 * c / d)
    k = el * expm1(2 * c / d) / (2 * sqrt(d))
    a = 1 + 2 * s + 4 * (c * c + qx * qy)
    b = 4 * c * (delta + 3 * s + 2)
    kd = el * ((a - b) + er * (a + b)) / (2 * d ** mpf("2.5"))
    return k, kd


S = mpf(1) / mpf("2.4020563531719796")
ACTS = [
    ("Identity", {}, lambda qx, qy, c: (c, mpf(1))),
    ("Relu", {}, ab_relu(0, 1)),
    ("LeakyRelu", {"alpha": 0.1}, ab_relu(mpf("0.1"), 1)),
    ("ABRelu", {"a": -0.3, "b": 1.1}, ab_relu(mpf("-0.3"), mpf("1.1"))),
    ("Abs", {}, ab_relu(-1, 1)),
    ("Sign", {}, lambda qx, qy, c: (1 - 2 * theta(qx, qy, c) / pi, mpf(0))),
    ("Erf", {"a": 1.3, "b": 0.7, "c": 0.2}, erf_k(mpf("1.3"), mpf("0.7"), mpf("0.2"))),
    ("Sigmoid_like", {}, erf_k(mpf("0.5"), S, mpf("0.5"))),
    ("Gelu", {}, gelu),
    ("Sin", {"a": 1.2, "b": 0.8, "c": 0.3}, sin_k(mpf("1.2"), mpf("0.8"), mpf("0.3"))),
    ("Cos", {"a": 1.0, "b": 1.0, "c": 0.0}, sin_k(1, 1, pi / 2)),
    ("Rbf", {"gamma": 0.7}, rbf(mpf("0.7"))),
    ("Exp", {"a": 0.5, "b": 0.6}, exp_k(mpf("0.5"), mpf("0.6"))),
    ("Gaussian", {"a": 1.5, "b": -0.4}, gaussian(mpf("1.5"), mpf("-0.4"))),
    ("ExpNormalized", {"gamma": 1.0, "shift": -1.0, "do_clip": False}, exp_normalized(1, -1)),
    ("Hermite", {"degree": 3}, hermite_exact(3)),
    ("Hermite", {"degree": 4}, hermite_exact(4)),
    ("Monomial", {"degree": 2}, monomial(2)),
    ("Monomial", {"degree": 3}, monomial(3)),
    ("Monomial", {"degree": 5}, monomial(5)),
    ("RectifiedMonomial", {"degree": 0}, rect_monomial(0)),
    ("RectifiedMonomial", {"degree": 1}, rect_monomial(1)),
    ("RectifiedMonomial", {"degree": 2}, rect_monomial(2)),
    ("RectifiedMonomial", {"degree": 3}, rect_monomial(3)),
    ("Polynomial", {"coef": [-0.1, 2.1, 0.0, 0.3, -1.2, -0.5]},
     polynomial([mpf("-0.1"), mpf("2.1"), mpf(0), mpf("0.3"), mpf("-1.2"), mpf("-0.5")])),
    ("Gabor", {}, gabor),
]


def spot_check():
    """Nested mpmath quadrature of the Gelu and Gabor expectations at point B."""
    mp.dps = 20
    qx, qy, c = mpf("0.7"), mpf("1.6"), mpf("-0.5")
    a = c / sqrt(qx)
    b = sqrt(qy - c * c / qx)
    phi = lambda z: exp(-z * z / 2) / sqrt(2 * pi)
    for name, f in [("Gelu", lambda t: t * (1 + erf(t / sqrt(2))) / 2), ("Gabor", lambda t: exp(-t * t) * sin(t))]:
        val = mp.quad(lambda z1: phi(z1) * f(sqrt(qx) * z1) * mp.quad(lambda z2: phi(z2) * f(a * z1 + b * z2), [-mp.inf, mp.inf]),
                      [-mp.inf, mp.inf])
        ref = dict(gelu=gelu, gabor=gabor)[name.lower()](qx, qy, c)[0]
        assert abs(val - ref) < mpf("1e-15"), (name, val, ref)
        print(f"spot check {name}: quadrature {mp.nstr(val, 17)} closed form {mp.nstr(ref, 17)}", file=sys.stderr)
    mp.dps = 40


def main():
    spot_check()
    rows = []
    for name, params, f in ACTS:
        for label, qx, qy, c in POINTS:
            k, kd = f(qx, qy, c)
            rows.append({"activation": name, "params": params, "point": label, "q_x": float(qx), "q_y": float(qy),
                         "c": float(c), "k": mp.nstr(k, 25), "k_dot": mp.nstr(kd, 25)})
    out = "crates/dual-activations/tests/fixtures/closed_form_reference.json"
    with open(out, "w") as fh:
        json.dump({"generator": "tools/gen_dual_reference.py", "mpmath_dps": 40, "cases": rows}, fh, indent=1)
    print(f"wrote {len(rows)} cases to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
