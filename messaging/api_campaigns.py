"""API: the segment counter (the console's live counter uses the same function)."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging.encoding import segment_info


class SegmentInfoInput(serializers.Serializer):
    text = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=10_000)


class SegmentInfoView(APIView):
    """POST {"text": "..."} -> {"encoding": "GSM-7"|"UCS-2", "segments": n, "units": n, ...}."""

    def post(self, request: Request) -> Response:
        data = SegmentInfoInput(data=request.data)
        data.is_valid(raise_exception=True)
        info = segment_info(data.validated_data["text"])
        return Response(
            {
                "encoding": info.encoding,
                "segments": info.segments,
                "units": info.units,
                "per_segment": info.per_segment,
                "non_gsm": list(info.non_gsm),
            }
        )
