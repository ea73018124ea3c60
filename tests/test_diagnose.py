from explorer.training.diagnose import diagnose


def test_healthy_run_has_no_warnings():
    hist = [{"d_real": 0.6, "d_fake": 0.4, "loss_g": 1.0 + 0.1 * (i % 3), "grad_norm_g": 1.0, "diversity": 0.5}
            for i in range(60)]
    assert diagnose(hist) == []


def test_vanishing_gradients_are_named():
    hist = [{"d_real": 0.99, "d_fake": 0.01, "loss_g": -0.0001, "grad_norm_g": 1e-5, "diversity": 0.5}
            for _ in range(30)]
    (warning,) = diagnose(hist)
    assert "Vanishing gradients" in warning


def test_falling_diversity_suggests_mode_collapse():
    hist = [{"d_real": 0.6, "d_fake": 0.4, "loss_g": 1.0, "diversity": 0.5 if i < 40 else 0.1} for i in range(60)]
    assert any("mode collapse" in w for w in diagnose(hist))


def test_wgan_values_are_not_mistaken_for_probabilities():
    hist = [{"d_real": 5.0, "d_fake": -3.0, "loss_g": 3.0, "diversity": 0.5} for _ in range(30)]
    assert diagnose(hist) == []
