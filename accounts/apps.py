from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Talents, team and fans"

    def ready(self) -> None:
        # django-otp registers its device tables (secret keys, recovery codes) in the admin; they are
        # no console pages: each user manages their own at /admin/two-factor/, an operator resets a
        # lost one with `manage.py two_factor_reset`. Here, after the admin's autodiscover (admin
        # comes first in INSTALLED_APPS), so it holds however the URLconf is first imported.
        from django.contrib import admin
        from django_otp.plugins.otp_static.models import StaticDevice
        from django_otp.plugins.otp_totp.models import TOTPDevice

        for device in (TOTPDevice, StaticDevice):
            if admin.site.is_registered(device):
                admin.site.unregister(device)
