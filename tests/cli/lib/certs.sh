# Certificates for the TLS tests, made with openssl in the current
# directory. After `. lib/certs.sh`:
#   certs_ca                    ca.pem (and ca.key): a throwaway CA
#   cert NAME SUBJECT [EXT]     NAME.pem: a certificate the CA signed for
#                               SUBJECT (/CN=...), with an optional
#                               extension line, followed by its key
ssl() { openssl "$@" >/dev/null 2>&1 || { echo "FAIL: openssl $1"; exit 1; }; }
certs_ca() {
    ssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
        -out ca.pem -days 2 -subj /CN=cairn-test-ca
}
cert() {
    ssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" \
        -out "$1.csr" -subj "$2"
    printf '%s\n' "${3:-}" >"$1.ext"
    ssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile "$1.ext" -out "$1.crt"
    cat "$1.crt" "$1.key" >"$1.pem"
}
