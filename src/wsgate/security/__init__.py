"""Request authentication and transport security: SigV4 verification and local TLS material.

``sigv4`` checks AWS Signature Version 4 (service ``execute-api``) on ``$connect`` and the
``@connections`` API; ``credentials`` holds the keys it checks against; ``certs`` makes a local CA
and server certificates for ``wsgate cert``. Nothing here listens on a socket.
"""

from __future__ import annotations
