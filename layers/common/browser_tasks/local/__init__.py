"""``browser-tasks local``: the whole stack on one machine, on an embedded AWS (moto).

Developer tooling, not Lambda code: it imports moto and PyYAML (the ``local`` extra).
"""
