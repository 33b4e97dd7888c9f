from tests.app.conftest import Client


def test_home_and_sign_in(client: Client) -> None:
    assert client.get("/").status_code == 200
    client.sign_in("owner")
    page = client.get("/c/z")
    assert page.status_code == 200
    assert "王秀英" in page.text
