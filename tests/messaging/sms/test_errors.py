"""One table of provider error codes: the backend and the send engine read the same rows."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException

from messaging.sending import engine
from messaging.sms import errors
from messaging.sms.backends.twilio import error_from_exception


@pytest.mark.parametrize("code", sorted(errors.ERRORS))
def test_the_backend_classifies_every_code_by_the_table(code):
    error = error_from_exception(TwilioRestException(400, "/Messages.json", msg="x", code=int(code)))
    # At HTTP 400 everything but throttling is permanent (the table's retryable rows are not).
    assert error.permanent is (errors.ERRORS[code].kind is not errors.Kind.RETRYABLE)


def test_the_engine_reads_the_same_table():
    assert engine.OPT_OUT_CODES == {"21610"}
    assert engine.UNDELIVERABLE_CODES == {"21211", "21614", "30005", "30006"}
    assert engine.FILTERED_CODES == {"30007"}
    assert engine.THROTTLE_CODES == errors.RETRYABLE_CODES == {"20429", "21611", "30001"}
    # Opting out, dead numbers and filtering are all permanent for the message itself.
    assert errors.OPT_OUT_CODES | errors.UNDELIVERABLE_CODES | errors.FILTERED_CODES <= errors.PERMANENT_CODES
    assert not errors.RETRYABLE_CODES & errors.PERMANENT_CODES
