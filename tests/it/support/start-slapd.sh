#!/bin/sh
# Throwaway OpenLDAP slapd for Kabine's tests (started by tests/it/support/slapd.rs):
# loopback only, no root-owned state, no system service.
# Needs: apt-get install -y slapd ldap-utils   (with DEBIAN_FRONTEND=noninteractive; the
#        postinst's default system instance is never started here because of /usr/sbin/policy-rc.d,
#        and this script does not use it anyway).
# Usage: start-slapd.sh [DIR]   -> prints env lines; stop with: kill $(cat $DIR/slapd.pid)
set -eu
DIR=${1:?usage: start-slapd.sh DIR}
PORT=${LDAP_PORT:-3389}
TLSPORT=${LDAPS_PORT:-3636}
SUFFIX=${LDAP_SUFFIX:-dc=example,dc=org}
ADMINPW=${LDAP_ADMIN_PW:-adminpw}
rm -rf "$DIR"; mkdir -p "$DIR/slapd.d" "$DIR/db"
DIR=$(cd "$DIR" && pwd)   # absolute, since configs below embed it

# Test CA + leaf cert for ldaps:// / StartTLS. A single self-signed cert is NOT enough for rustls/webpki
# (openssl req -x509 marks it CA:TRUE -> "CaUsedAsEndEntity"); SAN must hold 127.0.0.1 and localhost.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=slapd test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
  -keyout "$DIR/ca.key" -out "$DIR/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$DIR/key.pem" -out "$DIR/req.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' > "$DIR/ext.cnf"
openssl x509 -req -in "$DIR/req.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -CAcreateserial -days 2 \
  -extfile "$DIR/ext.cnf" -out "$DIR/cert.pem" 2>/dev/null

HASH=$(slappasswd -s "$ADMINPW")
cat > "$DIR/config.ldif" <<LDIF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $DIR/slapd.pid
olcArgsFile: $DIR/slapd.args
olcTLSCertificateFile: $DIR/cert.pem
olcTLSCertificateKeyFile: $DIR/key.pem

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/nis.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth manage by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $SUFFIX
olcRootDN: cn=admin,$SUFFIX
olcRootPW: $HASH
olcDbDirectory: $DIR/db
olcDbMaxSize: 104857600
olcDbIndex: objectClass eq
olcDbIndex: uid,cn,mail eq
olcDbIndex: member eq
olcAccess: {0}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {1}to * by users read by * none

dn: olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {0}memberof
olcMemberOfRefInt: TRUE
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf
LDIF
slapadd -n0 -F "$DIR/slapd.d" -l "$DIR/config.ldif" >/dev/null

SOCK=$(printf %s "$DIR/ldapi" | sed 's,/,%2F,g')
# -h: loopback only. Runs as the current user (root in CI); add "-u openldap -g openldap" if you chown DIR.
slapd -F "$DIR/slapd.d" -h "ldap://127.0.0.1:$PORT/ ldaps://127.0.0.1:$TLSPORT/ ldapi://$SOCK"
for i in $(seq 1 50); do
  ldapwhoami -x -H "ldap://127.0.0.1:$PORT" >/dev/null 2>&1 && break; sleep 0.1
done

D="${SUFFIX#dc=}"; D="${D%%,*}"
ldapadd -x -H "ldap://127.0.0.1:$PORT" -D "cn=admin,$SUFFIX" -w "$ADMINPW" >/dev/null <<LDIF
dn: $SUFFIX
objectClass: dcObject
objectClass: organization
o: Test
dc: $D

dn: ou=people,$SUFFIX
objectClass: organizationalUnit
ou: people

dn: ou=groups,$SUFFIX
objectClass: organizationalUnit
ou: groups

dn: uid=alice,ou=people,$SUFFIX
objectClass: inetOrgPerson
uid: alice
cn: Alice Example
displayName: Alice Beispiel
sn: Example
mail: alice@example.org
userPassword: $(slappasswd -s alicepw)

dn: uid=bob,ou=people,$SUFFIX
objectClass: inetOrgPerson
uid: bob
cn: Bob Example
sn: Example
mail: bob@example.org
userPassword: $(slappasswd -s bobpw)

dn: cn=conf-users,ou=groups,$SUFFIX
objectClass: groupOfNames
cn: conf-users
member: uid=alice,ou=people,$SUFFIX
LDIF
echo "LDAP_URL=ldap://127.0.0.1:$PORT"
echo "LDAPS_URL=ldaps://127.0.0.1:$TLSPORT  LDAP_CA=$DIR/ca.pem (e.g. LDAPTLS_CACERT=... for ldap-utils, SSL_CERT_FILE=... for ldap3/rustls-native-certs)"
echo "LDAP_BASE=$SUFFIX  ADMIN=cn=admin,$SUFFIX/$ADMINPW  users: alice/alicepw (in cn=conf-users), bob/bobpw"
echo "SLAPD_PID=$(cat "$DIR/slapd.pid")"
