"""A pysaml2 crypto backend on the `xmlsec` Python binding (libxmlsec1), so the test IdP needs no xmlsec1 binary."""

import xmlsec
from lxml import etree
from saml2 import SamlBase
from saml2.sigver import CryptoBackend, RSACrypto, SecurityContext, SignatureError, import_rsa_key_from_file

DSIG = "http://www.w3.org/2000/09/xmldsig#"
REFERENCE_TRANSFORMS = (
    xmlsec.constants.TransformEnveloped,
    xmlsec.constants.TransformExclC14N,
    xmlsec.constants.TransformExclC14NWithComments,
    xmlsec.constants.TransformSha1,
    xmlsec.constants.TransformSha256,
    xmlsec.constants.TransformSha384,
    xmlsec.constants.TransformSha512,
)
# Why: no DTDs, entities or network in documents we parse (a signature library must not be an XXE door).
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _parse(document) -> etree._Element:
    """Parse what pysaml2 hands a backend: XML as bytes or text, or a SAML element object."""
    if isinstance(document, SamlBase):
        document = str(document)
    # lxml refuses text with an encoding declaration, which pysaml2's XML carries.
    return etree.fromstring(document.encode() if isinstance(document, str) else document, parser=_PARSER)


def _tag(node_name: str) -> str:
    """pysaml2's `urn:...:assertion:Assertion` as lxml's `{urn:...:assertion}Assertion`."""
    namespace, _, local = node_name.rpartition(":")
    return f"{{{namespace}}}{local}"


def _signed_node(root: etree._Element, node_name: str, node_id: str | None) -> etree._Element:
    """The `node_name` element with ID `node_id` (the first one without an id), as xmlsec1's --node-id/--id-attr pick it."""
    xmlsec.tree.add_ids(root, ["ID"])
    for node in root.iter(_tag(node_name)):
        if node_id is None or node.get("ID") == node_id:
            return node
    raise SignatureError(f"no {node_name} with ID {node_id!r} to sign or verify")


def _signature_of(node: etree._Element) -> etree._Element:
    # Only the element's own enveloped signature: a nested one (the Assertion's, inside a Response) is not it.
    signature = node.find(f"{{{DSIG}}}Signature")
    if signature is None:
        raise SignatureError(f"{node.tag} has no Signature")
    return signature


def _serialize(root: etree._Element) -> str:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode()


class CryptoBackendXmlSecBinding(CryptoBackend):
    """Sign and verify enveloped XML signatures in process with libxmlsec1, following the template pysaml2 inserted."""

    @property
    def version(self) -> str:
        return ".".join(str(part) for part in xmlsec.get_libxmlsec_version())

    def sign_statement(self, statement, node_name, key_file, node_id):
        """Fill in the node's Signature template (algorithms, c14n, reference) with the PEM private key in `key_file`."""
        root = _parse(statement)
        signature = _signature_of(_signed_node(root, node_name, node_id))
        context = xmlsec.SignatureContext()
        context.key = xmlsec.Key.from_file(key_file, xmlsec.constants.KeyDataFormatPem)
        try:
            context.sign(signature)
        except xmlsec.Error as error:
            raise SignatureError(f"signing {node_name} {node_id!r} failed: {error}") from error
        return _serialize(root)

    def validate_signature(self, signedtext, cert_file, cert_type, node_name, node_id):
        """True when the node's own signature references it and verifies with the certificate in `cert_file`; else SignatureError."""
        if cert_type != "pem":
            raise SignatureError(f"only PEM certificates are supported, not {cert_type}")
        root = _parse(signedtext)
        node = _signed_node(root, node_name, node_id)
        signature = _signature_of(node)
        references = signature.findall(f"{{{DSIG}}}SignedInfo/{{{DSIG}}}Reference")
        # Why: a valid signature over some other element (signature wrapping) must not vouch for this one.
        if len(references) != 1 or references[0].get("URI") != f"#{node.get('ID')}":
            raise SignatureError(f"the signature of {node_name} {node.get('ID')!r} does not reference it")
        context = xmlsec.SignatureContext()
        # Why: the key comes from the trusted certificate only, never from the document's KeyInfo.
        context.key = xmlsec.Key.from_file(cert_file, xmlsec.constants.KeyDataFormatCertPem)
        # Why: the SAML signature profile's transforms and digests only (no XSLT, XPath or remote URIs in references).
        for transform in REFERENCE_TRANSFORMS:
            context.enable_reference_transform(transform)
        try:
            context.verify(signature)
        except xmlsec.Error as error:
            raise SignatureError(f"the signature of {node_name} {node.get('ID')!r} is invalid: {error}") from error
        return True


def security_context_for(config) -> SecurityContext:
    """The security context `saml2.sigver.security_context` would build from `config`, signing with CryptoBackendXmlSecBinding."""
    return SecurityContext(
        CryptoBackendXmlSecBinding(),
        config.key_file,
        cert_file=config.cert_file,
        metadata=config.metadata,
        only_use_keys_in_metadata=config.only_use_keys_in_metadata,
        validate_certificate=config.validate_certificate,
        # For HTTP-Redirect query signatures, which pysaml2 makes with `cryptography`, not xmlsec.
        sec_backend=RSACrypto(import_rsa_key_from_file(config.key_file)) if config.key_file else None,
        delete_tmpfiles=config.delete_tmpfiles,
    )
