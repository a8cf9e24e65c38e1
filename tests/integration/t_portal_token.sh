#!/bin/bash
# The whole Portal contract of t_portal.sh, unchanged, with the KEK inside a
# PKCS#11 token: a SoftHSM2 token served by `p11-kit server` to sharekeep's
# workers through p11-kit-client.so, so the key lives in another process as
# with a network HSM (lib.sh's SK_KEK_BACKEND=pkcs11, lib_token.sh).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
SK_KEK_BACKEND=pkcs11
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/t_portal.sh"
