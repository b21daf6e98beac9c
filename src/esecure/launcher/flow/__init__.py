"""The launcher's start-up flow: one pure state machine (:mod:`.machine`), the runner that
executes its effects through adapters (:mod:`.runner`, :mod:`.steps`), the Presenter
interface the windows and the terminal implement (:mod:`.presenter`, :mod:`.console`),
and the live Firefox profile (:mod:`.profile`).

Import the submodules you need: this package imports nothing heavy, so that
``e-secure --version`` stays fast.
"""
