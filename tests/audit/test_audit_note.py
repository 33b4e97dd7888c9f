from __future__ import annotations

import base64

import pytest

from audit.checkpoint import (
    Checkpoint,
    community_origin,
    open_checkpoint,
    origin_slug,
    parse_checkpoint,
    read_checkpoint,
    sign_checkpoint,
)
from audit.note import (
    EM_DASH,
    Ed25519Signer,
    Ed25519Verifier,
    NoteError,
    Signature,
    add_signatures,
    format_note,
    generate_signer,
    open_note,
    parse_note,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
)
from audit.witness import (
    CosignatureVerifier,
    Cosigner,
    WitnessPolicy,
    check_quorum,
    cosign_note,
    cosignature_message,
    cosignature_time,
    generate_cosigner,
    parse_cosigner_key,
    parse_policy,
    parse_witness_key,
)

# Keys and signatures from golang.org/x/mod/sumdb/note/note_test.go, the reference
# implementation of the signed-note format.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqf"
    "qdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnW"
    "Lox33WWd1RvMc+QQ=\n"
)


def note_code(data: bytes, verifiers: list[Ed25519Verifier] | None = None) -> str:
    with pytest.raises(NoteError) as err:
        if verifiers is None:
            parse_note(data)
        else:
            open_note(data, verifiers)
    return err.value.code


def test_reference_keys_and_signature() -> None:
    signer = parse_signer_key(PETER_SKEY)
    verifier = parse_verifier_key(PETER_VKEY)
    assert signer.verifier() == verifier
    assert verifier.vkey() == PETER_VKEY and signer.skey() == PETER_SKEY
    assert verifier.key_id.hex() == "c74f20a3"
    assert sign_note(TEXT, signer) == (TEXT + "\n" + PETER_SIG).encode()


def test_open_reports_unknown_signatures() -> None:
    peter, enoch = parse_verifier_key(PETER_VKEY), parse_verifier_key(ENOCH_VKEY)
    data = (TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode()
    opened = open_note(data, [peter])
    assert opened.text == TEXT
    assert [s.name for s in opened.verified] == ["PeterNeumann"]
    assert [s.name for s in opened.unverified] == ["EnochRoot"]
    both = open_note(data, [peter, enoch])
    assert len(both.verified) == 2 and not both.unverified
    assert note_code(data, []) == "no_known_signature"
    doubled = (TEXT + "\n" + PETER_SIG + PETER_SIG).encode()
    assert len(open_note(doubled, [peter]).verified) == 1


def test_open_rejects_a_bad_signature_from_a_known_key() -> None:
    peter = parse_verifier_key(PETER_VKEY)
    broken = PETER_SIG[:60] + "ABCD" + PETER_SIG[64:]
    assert note_code((TEXT + "\n" + broken).encode(), [peter]) == "bad_signature"
    assert note_code((TEXT.upper() + "\n" + PETER_SIG).encode(), [peter]) == "bad_signature"


def test_ambiguous_keys_are_refused() -> None:
    a = generate_signer("same")
    b = Ed25519Verifier("same", parse_verifier_key(PETER_VKEY).public_key)
    fake = Ed25519Verifier("same", b.public_key)
    object.__setattr__(fake, "key_id", a.key_id)  # a deliberate key-ID collision
    data = sign_note(TEXT, a)
    assert note_code(data, [a.verifier(), fake]) == "ambiguous_key"


@pytest.mark.parametrize(
    "data",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ=\n",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG.replace("—", "-"),
        TEXT + "\n" + "— PeterNeumann AAAA\n",
        TEXT + "\n" + "— PeterNeumann not*base64\n",
        TEXT + "\n" + PETER_SIG.replace("AM=", "AN="),
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter+Neumann"),
        TEXT + "\n" + PETER_SIG * 101,
    ],
)
def test_malformed_notes(data: str) -> None:
    assert note_code(data.encode()) in {"malformed_note", "bad_base64", "bad_key_name"}


def test_invalid_utf8_note() -> None:
    assert note_code(b"\xff" + (TEXT + "\n" + PETER_SIG).encode()) == "malformed_note"


def test_text_may_hold_blank_lines() -> None:
    signer = generate_signer("k")
    text = "a\n\nb\n"
    opened = open_note(sign_note(text, signer), [signer.verifier()])
    assert opened.text == text


def test_sign_refuses_bad_text_and_no_signers() -> None:
    signer = generate_signer("k")
    for text in ["no newline", "bell\x07\n"]:
        with pytest.raises(NoteError):
            sign_note(text, signer)
    with pytest.raises(NoteError):
        sign_note("ok\n")


@pytest.mark.parametrize(
    "vkey",
    [
        PETER_VKEY[:-1],
        PETER_VKEY.replace("c74f20a3", "c74f20a4"),
        PETER_VKEY.replace("c74f20a3", "C74F20A3"),
        PETER_VKEY.replace("PeterNeumann", "PeterNeuman"),
        "PeterNeumann+c74f20a3",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+AQ==",
        "PeterNeumann+c74f20a3+",
    ],
)
def test_bad_verifier_keys(vkey: str) -> None:
    with pytest.raises(NoteError):
        parse_verifier_key(vkey)


def test_bad_signer_keys() -> None:
    for skey in [PETER_SKEY[len("PRIVATE+KEY+") :], PETER_SKEY.replace("c74f20a3", "00000000")]:
        with pytest.raises(NoteError):
            parse_signer_key(skey)
    witness = generate_cosigner("w")
    with pytest.raises(NoteError):
        parse_signer_key(witness.skey())
    with pytest.raises(NoteError):
        Ed25519Signer("k", b"short")
    with pytest.raises(NoteError):
        Ed25519Verifier("k", b"short")


def test_verifier_rejects_wrong_length_signature() -> None:
    assert not parse_verifier_key(PETER_VKEY).verify(b"x", b"short")


def test_add_signatures_and_format() -> None:
    a, b = generate_signer("a"), generate_signer("b")
    data = sign_note("x\n", a)
    extra = Signature(b.name, b.key_id, b.sign(b"x\n"))
    both = add_signatures(data, extra)
    assert len(open_note(both, [a.verifier(), b.verifier()]).verified) == 2
    note = parse_note(both)
    assert format_note(note) == both
    assert note.signatures[1].line().startswith(EM_DASH + " b ")


# --- checkpoints ------------------------------------------------------------------------

ROOT = bytes(range(32))


def test_checkpoint_round_trip() -> None:
    signer = generate_signer("yishi.example/c/z")
    cp = Checkpoint("yishi.example/c/z", 20852163, ROOT, ("ext one",))
    assert cp.body() == f"yishi.example/c/z\n20852163\n{base64.b64encode(ROOT).decode()}\next one\n"
    data = sign_checkpoint(cp, signer)
    opened_cp, opened = open_checkpoint(data, [signer.verifier()])
    assert opened_cp == cp == read_checkpoint(data)
    assert opened.verified[0].name == signer.name


def test_reference_checkpoint_body_parses() -> None:
    # The example in c2sp.org/tlog-checkpoint.
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cp = parse_checkpoint(text)
    assert (cp.origin, cp.size, cp.body()) == ("example.com/behind-the-sofa", 20852163, text)


@pytest.mark.parametrize(
    "text",
    [
        "o\n1\n" + base64.b64encode(ROOT).decode(),
        "o\n1\n",
        "o\n\n" + base64.b64encode(ROOT).decode() + "\n",
        "o\n01\n" + base64.b64encode(ROOT).decode() + "\n",
        "o\n-1\n" + base64.b64encode(ROOT).decode() + "\n",
        "o\n1\n" + base64.b64encode(ROOT[:31]).decode() + "\n",
        "o\n1\n" + base64.b64encode(ROOT).decode() + "\n\n",
        "o\n1\nnot base64\n",
    ],
)
def test_malformed_checkpoints(text: str) -> None:
    with pytest.raises(NoteError):
        parse_checkpoint(text)


@pytest.mark.parametrize(
    "cp",
    [
        Checkpoint("", 1, ROOT),
        Checkpoint("a\nb", 1, ROOT),
        Checkpoint("o", -1, ROOT),
        Checkpoint("o", 1, ROOT[:5]),
        Checkpoint("o", 1, ROOT, ("",)),
    ],
)
def test_bad_checkpoints_are_not_formatted(cp: Checkpoint) -> None:
    with pytest.raises(NoteError):
        cp.body()


def test_origins() -> None:
    assert community_origin("yishi.example", "z") == "yishi.example/c/z"
    assert origin_slug("yishi.example/c/z") == "z"
    assert origin_slug("a/c/b/c/z") == "z"
    for origin in ["yishi.example/z", "/c/z", "h/c/", "h/c/a/b"]:
        assert origin_slug(origin) is None


# --- witnesses --------------------------------------------------------------------------


def test_cosignature_round_trip() -> None:
    log = generate_signer("log.example/c/z")
    witness = generate_cosigner("witness.example/w1")
    body = Checkpoint("log.example/c/z", 5, ROOT).body()
    data = cosign_note(sign_note(body, log), witness, 1679315147)
    verifier = witness.verifier()
    assert verifier.key_id == parse_witness_key(verifier.vkey()).key_id
    assert parse_cosigner_key(witness.skey()) == witness
    opened = open_note(data, [log.verifier(), verifier])
    assert len(opened.verified) == 2
    assert cosignature_time(opened.verified[1]) == 1679315147
    assert cosignature_message(body, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\n" + body.encode()
    )
    # A cosignature key ID uses type byte 0x04, so it never matches the same key as 0x01.
    assert verifier.key_id != Ed25519Verifier(verifier.name, verifier.public_key).key_id


def test_cosignature_rejections() -> None:
    witness = generate_cosigner("w")
    verifier = witness.verifier()
    sig = witness.cosign("body\n", 7)
    assert verifier.verify(b"body\n", sig.signature)
    assert not verifier.verify(b"other\n", sig.signature)
    assert not verifier.verify(b"body\n", sig.signature[:-1])
    too_late = (2**63).to_bytes(8, "big") + sig.signature[8:]
    assert not verifier.verify(b"body\n", too_late)
    with pytest.raises(NoteError):
        witness.cosign("body\n", -1)
    with pytest.raises(NoteError):
        parse_witness_key(generate_signer("x").verifier().vkey())
    with pytest.raises(NoteError):
        parse_witness_key(verifier.vkey().replace(verifier.key_id.hex(), "00000000"))
    for skey in [
        witness.skey()[12:],
        generate_signer("x").skey(),
        witness.skey().replace(verifier.key_id.hex(), "00000000"),
    ]:
        with pytest.raises(NoteError):
            parse_cosigner_key(skey)
    with pytest.raises(NoteError):
        Cosigner("w", b"short")
    with pytest.raises(NoteError):
        CosignatureVerifier("w", b"short")


def test_quorum() -> None:
    log = generate_signer("log")
    ws = [generate_cosigner(f"w{i}") for i in range(3)]
    body = "log\n1\n" + base64.b64encode(ROOT).decode() + "\n"
    data = sign_note(body, log)
    for w in ws[:2]:
        data = cosign_note(data, w, 100)
    keys = tuple(w.verifier() for w in ws)
    assert check_quorum(data, WitnessPolicy(2, keys)).met
    result = check_quorum(data, WitnessPolicy(3, keys))
    assert not result.met and result.cosigned_by == ("w0", "w1")
    # The same key twice is one witness.
    assert not check_quorum(data, WitnessPolicy(2, (keys[0], keys[0]))).met
    # A forged cosignature is reported, not counted.
    forged = add_signatures(data, Signature("w2", keys[2].key_id, bytes(72)))
    result = check_quorum(forged, WitnessPolicy(3, keys))
    assert result.invalid == ("w2",) and not result.met


def test_policy_file() -> None:
    keys = tuple(generate_cosigner(f"w{i}").verifier() for i in range(3))
    assert parse_policy("# two of three\n\nquorum 2\n", keys).quorum == 2
    for text in ["", "quorum two", "quorum 1\nquorum 2", "quorum 4", "quorum 01"]:
        with pytest.raises(NoteError):
            parse_policy(text, keys)
