"""The seed recipe's hyperparameters, in one place (no heavy imports, so command lines can show them)."""

RECIPE = {"learning_rate": 2e-5, "per_device_train_batch_size": 16, "num_train_epochs": 5, "weight_decay": 0.01,
          "seed": 42}

# "auto" = bf16 or fp16 where the hardware computes it natively, else fp32 (see training.auto_precision).
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
