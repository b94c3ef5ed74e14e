"""API: the SMS-parts counter (the console's live counter uses the same function). The path
(/api/segment-info/) and the response keys ("segments", "per_segment") are public and stay."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging.sms.parts import sms_parts


class SmsPartsInput(serializers.Serializer):
    text = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=10_000)


class SmsPartsView(APIView):
    """POST {"text": "..."} -> {"encoding": "GSM-7"|"UCS-2", "segments": n, "units": n, ...}."""

    def post(self, request: Request) -> Response:
        data = SmsPartsInput(data=request.data)
        data.is_valid(raise_exception=True)
        info = sms_parts(data.validated_data["text"])
        return Response(
            {
                "encoding": info.encoding,
                "segments": info.parts,
                "units": info.units,
                "per_segment": info.per_part,
                "non_gsm": list(info.non_gsm),
            }
        )
