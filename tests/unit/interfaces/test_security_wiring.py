"""The auth settings, and the security pieces the composition root makes from them."""

import pytest
from hk_testing.models import User
from hk_testing.security import make_key_files, security_settings

from hexkernel.adapters.security import (
    InMemoryRefreshTokenStore,
    JwtVerifier,
    RemoteJwksVerifier,
)
from hexkernel.adapters.security.mongo_refresh_tokens import MongoRefreshTokenStore
from hexkernel.application.auth import ModelUserDirectory
from hexkernel.interfaces.bootstrap import RootContainer, Service
from hexkernel.interfaces.config import (
    AuthSettings,
    ConfigurationError,
    KeySettings,
    MongoSettings,
    Secret,
    Settings,
    load_settings,
    redacted,
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return make_key_files(tmp_path_factory.mktemp("keys"))


def test_auth_settings_come_from_the_environment():
    settings = load_settings(
        config_file=None,
        environ={
            "HEXKERNEL_AUTH__ADMIN__EMAIL": "admin@example.org",
            "HEXKERNEL_AUTH__ADMIN__PASSWORD": "very secret admin password",
            "HEXKERNEL_AUTH__ISSUER": "https://api.example.org",
            "HEXKERNEL_AUTH__ACCESS_TOKEN_SECONDS": "120",
            "HEXKERNEL_AUTH__CLIENTS__CLI__SECRET_HASH": "$argon2id$v=19$m=8,t=1,p=1$abc$def",
        },
    )
    auth = settings.auth
    assert auth.admin.email == "admin@example.org"
    assert auth.admin.password.reveal() == "very secret admin password"
    assert auth.issuer == "https://api.example.org"
    assert auth.access_token_seconds == 120
    assert auth.clients["cli"].grants == ["client_credentials"]
    shown = repr(settings) + str(redacted(settings))
    assert "very secret admin password" not in shown
    assert "$argon2id" not in shown


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"HEXKERNEL_AUTH__MODE": "resource_server"}, "auth.jwks_url"),
        ({"HEXKERNEL_AUTH__MODE": "both"}, "auth.mode"),
        ({"HEXKERNEL_AUTH__ACTIVE_KID": "k9"}, "auth.active_kid"),
        ({"HEXKERNEL_AUTH__ACCESS_TOKEN_SECONDS": "0"}, "auth.access_token_seconds"),
    ],
)
def test_auth_settings_are_checked(environ, key):
    with pytest.raises(ConfigurationError) as caught:
        load_settings(config_file=None, environ=environ)
    assert key in caught.value.problems


def test_client_grants_are_checked(tmp_path):
    config = tmp_path / "cfg.yml"
    config.write_text("auth:\n  clients:\n    web:\n      grants: [implicit]\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(config_file=config, environ={})
    assert any(key.startswith("auth.clients") for key in caught.value.problems)


def test_the_memory_service_gets_local_verification_and_memory_refresh_tokens(keys):
    service = Service(RootContainer.from_settings(security_settings(keys)), [User])
    security = service.security(users=User)
    assert isinstance(service.container.token_verifier(), JwtVerifier)
    assert isinstance(service.container.refresh_tokens(), InMemoryRefreshTokenStore)
    assert security.tokens is not None
    assert security.tokens.client_ids == {"svc", "web", "spa", "odd"}
    assert security.issuer.active_kid == "k1"
    assert isinstance(security.authenticator._users, ModelUserDirectory)


def test_a_mongo_service_keeps_refresh_tokens_in_mongo(keys):
    settings = security_settings(
        keys, mongo=MongoSettings(uri=Secret("mongodb://127.0.0.1:1"), database="x")
    )
    container = RootContainer.from_settings(settings)
    assert isinstance(container.refresh_tokens(), MongoRefreshTokenStore)


def test_a_resource_server_issues_nothing(keys):
    settings = security_settings(
        keys, mode="resource_server", jwks_url="https://idp.example.org/certs"
    )
    service = Service(RootContainer.from_settings(settings), [User])
    security = service.security()
    assert security.tokens is None
    assert security.issuer is None
    assert isinstance(service.container.token_verifier(), RemoteJwksVerifier)


def test_unusable_keys_and_clients_are_configuration_errors(tmp_path):
    missing = Settings(
        auth=AuthSettings(keys=[KeySettings(kid="a", private_key_file=str(tmp_path / "no.pem"))])
    )
    with pytest.raises(ConfigurationError) as caught:
        Service(RootContainer.from_settings(missing), [User]).security()
    assert "auth.keys" in caught.value.problems
    assert "no.pem" in caught.value.problems["auth.keys"]


def test_users_must_be_stored_by_the_service(keys):
    service = Service(RootContainer.from_settings(security_settings(keys)), [])
    with pytest.raises(ValueError, match="does not store User"):
        service.security(users=User)


def test_public_login_is_on_by_default_and_can_be_turned_off(keys):
    service = Service(RootContainer.from_settings(security_settings(keys)), [User])
    assert "none" in service.security(users=User).tokens.auth_methods
    closed = security_settings(keys, public_login=False, clients={})
    tokens = Service(RootContainer.from_settings(closed), [User]).security(users=User).tokens
    assert tokens.grant_types == []
    assert (
        load_settings(
            config_file=None, environ={"HEXKERNEL_AUTH__PUBLIC_LOGIN": "no"}
        ).auth.public_login
        is False
    )
