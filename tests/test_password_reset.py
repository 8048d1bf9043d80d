"""Password reset by e-mail (issue 14): the link works once, an unknown address learns nothing."""

import re

import pytest
from django.core import mail
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_user_resets_their_password_with_the_emailed_link():
    user = UserFactory(username="forgetful", roles=["coordinator"])
    user.email = "forgetful@example.org"
    user.save()
    client = Client()
    assert "Forgot your password?" in client.get("/accounts/login/").content.decode()

    response = client.post("/accounts/password-reset/", {"email": "forgetful@example.org"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password-reset/sent/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["forgetful@example.org"]
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)

    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "a-new-long-pass-2026", "new_password2": "a-new-long-pass-2026"}
    )
    assert done.status_code == 302 and done["Location"] == "/accounts/reset/done/"
    user.refresh_from_db()
    assert user.check_password("a-new-long-pass-2026")
    # The link works once.
    assert "This link no longer works" in client.get(link, follow=True).content.decode()


def test_an_unknown_address_gets_the_same_answer_and_no_mail():
    response = Client().post("/accounts/password-reset/", {"email": "nobody@example.org"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password-reset/sent/"
    assert mail.outbox == []
