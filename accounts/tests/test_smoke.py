def test_register_login_me(api_client, db, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            "/api/v1/auth/register",
            {"email": "Ada@Example.com", "password": "S3cure-passphrase!", "full_name": "Ada Lovelace"},
            format="json",
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["user"]["email"] == "ada@example.com"
    assert body["organization"] is None
    assert len(mailoutbox) == 1
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    me = api_client.get("/api/v1/users/me")
    assert me.status_code == 200, me.content
    assert me.json()["needs_org_setup"] is True
