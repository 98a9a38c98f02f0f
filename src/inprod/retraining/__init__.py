"""Retraining: turn what monitoring found and what reviewers labelled into a better model that
ships safely.

    policies.py   how an endpoint is retrained: the training function, triggers, gate, canary
    triggers.py   when: a monitor's alert, N new labels, a schedule -> a request (once)
    requests.py   a request's life (open -> approved -> running -> deployed | ...) and its story
    runner.py     running a request step by step: dataset, train, check, evaluate, deploy
    worker.py     the server's background loop (leader only): triggers, auto approval, runs

From the command line: ``inprod retrain …``; over HTTP: ``/api/retraining/…``.
"""
