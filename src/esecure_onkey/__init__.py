"""The on-key format of e-secure, format 1: what a key's bootstrap reads for its whole life.

A standard-library-only package (checked by tests/onkey/test_stdlib_only.py with an AST
walk against ``sys.stdlib_module_names``), frozen with the bootstrap onto every CD-ROM
while the ``esecure`` package stays out of that freeze. Every room of ``esecure`` that
needs the key's layout imports it from here; nothing here imports ``esecure``.

Modules:

* :mod:`~esecure_onkey.layout`     names and places on the CD-ROM and the data area
* :mod:`~esecure_onkey.versions`   the one version grammar and its order
* :mod:`~esecure_onkey.components` components, their file lists, release records, ids
* :mod:`~esecure_onkey.store`      may a release run, and from which directories
* :mod:`~esecure_onkey.records`    pointer and completion records (sealed JSON)
* :mod:`~esecure_onkey.filelist`   the signed file list of an application root
* :mod:`~esecure_onkey.ed25519`    the signature verifier (RFC 8032)
* :mod:`~esecure_onkey.product`    ``product.json`` and ``identity.json`` readers
* :mod:`~esecure_onkey.discovery`  finding the data area, one probe per OS
* :mod:`~esecure_onkey.boot`       the bootstrap's choice of application, and ``run``
* :mod:`~esecure_onkey.browser`    how to start a given Firefox directory (shadow directory
  on Linux, where FAT shows no exec bits)

Which copy runs: the bootstrap imports this package from its own frozen runtime before
it starts the application, so the application — from the CD-ROM or from the data area —
uses that same copy (``sys.modules`` already holds it). An application never carries its
own copy (``esecure build`` and ``esecure publish`` leave it out of ``lib/``): the reader
of a key's files is the one frozen on that key. Run without a bootstrap (development,
tests, the release engineer's tools), the installed copy is used.

Compatibility: a reader of format 1 ignores keys it does not know, so adding an optional
key is not a format change; anything else is a new format with a reader for both.
Committed samples of every on-key file (tests/onkey/golden/) are read by the tests and
never regenerated.
"""

FORMAT_VERSION = 1
