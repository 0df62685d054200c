"""Send run metrics, run states and artifact events from training code to an automations server.

The plain client::

    from automations_client import Client

    client = Client()                      # AUTOMATIONS_URL, AUTOMATIONS_API_KEY
    with client.run("acme", "mnist", name="train-lr3", config={"lr": 3e-4}) as run:
        for step in range(1000):
            run.log({"loss": loss, "acc": acc})

A ``wandb`` run, mirrored without changing the training loop::

    import wandb, automations_client.wandb
    run = wandb.init(project="mnist")
    automations_client.wandb.attach(run)

See the package README for everything else.
"""

from ._sender import __version__
from .client import ARTIFACT_EVENT_TYPES, RUN_STATES, TERMINAL_STATES, Client, Run

__all__ = ["Client", "Run", "RUN_STATES", "TERMINAL_STATES", "ARTIFACT_EVENT_TYPES", "__version__"]
