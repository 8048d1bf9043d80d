"""`Cache-Control: no-store` on what a signed-in user receives, and on every API answer.

Pages, exports and API answers hold identifiers and clinical data: no browser or proxy cache may
keep a copy (a shared workstation's back button, a disk cache). A view that set its own
Cache-Control keeps it. Static files never get here: WhiteNoise answers them earlier, with
long-lived caching.
"""


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # Checked after the view: DRF sets request.user for a token-authenticated API call there.
        signed_in = request.user.is_authenticated
        if "Cache-Control" not in response and (signed_in or request.path.startswith("/api/")):
            response["Cache-Control"] = "no-store"
        return response
