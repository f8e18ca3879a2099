#!/bin/sh
# gen_certs.sh DIR: a throwaway CA and the certificates the TLS tests use,
# all EC P-256 (fast to make), valid for a day or more:
#   ca.pem ca.key                 the CA (self-signed)
#   server.pem server.key         CN=localhost, SAN DNS:localhost,
#                                 IP:127.0.0.1, IP:::1, signed by the CA
#   client.pem client.key         CN=kstream-test-client, clientAuth,
#                                 signed by the CA
# Exits non-zero, saying why, if anything fails.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
mkdir -p "$dir"
cd "$dir"

fail() {
	echo "gen_certs.sh: $*" >&2
	exit 1
}

key() {
	openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null ||
		fail "cannot make key $1"
}

key ca.key
openssl req -x509 -new -key ca.key -sha256 -days 30 \
	-subj "/CN=kstream test CA" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" \
	-out ca.pem 2>/dev/null || fail "cannot make ca.pem"

# leaf NAME CN EXTFILE-TEXT
leaf() {
	key "$1.key"
	openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" \
		2>/dev/null || fail "cannot make $1.csr"
	printf '%s\n' "$3" > "$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key \
		-CAcreateserial -days 30 -sha256 -extfile "$1.ext" \
		-out "$1.pem" 2>/dev/null || fail "cannot sign $1.pem"
	rm -f "$1.csr" "$1.ext"
}

leaf server localhost "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"

leaf client kstream-test-client "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"

rm -f ca.srl
openssl verify -CAfile ca.pem server.pem client.pem >/dev/null ||
	fail "the certificates do not verify"
chmod 600 ca.key server.key client.key
exit 0
