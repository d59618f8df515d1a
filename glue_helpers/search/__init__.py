"""What notebook 02's Optuna search needs beyond Optuna: the study's storage and checks and the budget (`study`), a
search space of your own (`space`), and the same search on Ray Tune (`ray_backend`)."""
