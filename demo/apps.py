from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data command (`manage.py demo_setup`): the top of the house, free to use every app."""

    name = "demo"
