"""QR codes as inline SVG (vector: sharp on a printed sticker at any size)."""

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import qrcode
import qrcode.image.svg


def qr_svg(data: str) -> str:
    """An SVG of a QR code for data (medium error correction: survives a scuffed sticker)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    code.add_data(data)
    image = code.make_image(image_factory=qrcode.image.svg.SvgPathImage)
    svg: str = image.to_string(encoding="unicode")
    return svg


class QrCodes:
    """The sticker sheet's QR codes by the text they hold, each drawn once, in a thread of its
    own.

    Drawing one takes milliseconds of pure Python: on the event loop, a flood of sticker page
    views would hold up everything else (webhooks, settling). A code changes only with what it
    holds (the public URL and the connector), so it is kept under that text.

    What is kept follows the connector list, not a fixed size: the codes of the last sheet
    drawn, and of the one before it changed (so views answered just before and just after a
    change do not draw each other's codes again). With a fixed size, a site with more
    connectors than that would draw every code again at every view (each drawing pushing out
    the next one needed). So a view draws only codes of connectors new since the last sheet;
    the codes of connectors gone are forgotten with the next change.
    """

    def __init__(self) -> None:
        self._codes: dict[str, asyncio.Future[str]] = {}
        self._before: dict[str, asyncio.Future[str]] = {}
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiosk-qr")
        self.renders = 0
        """How many codes were drawn (a flood of views of the same codes draws each once)."""

    async def sheet(self, texts: Sequence[str]) -> list[str]:
        """The codes for texts, in their order; views asking at the same time share one
        drawing of each."""
        known = self._before | self._codes
        codes = {text: known.get(text) or self._draw(text) for text in texts}
        if codes.keys() != self._codes.keys():
            self._before = self._codes
        self._codes = codes
        if pending := [code for code in codes.values() if not code.done()]:
            # Not cancelled with the view: a guest closing the page must not cancel drawings
            # others wait for (asyncio.wait leaves what it waits for alone).
            await asyncio.wait(pending)
        failed = [text for text, code in codes.items() if code.cancelled() or code.exception()]
        if failed:
            for text in failed:  # drawn again next time
                for kept in (self._codes, self._before):
                    if kept.get(text) is codes[text]:
                        del kept[text]
        return [codes[text].result() for text in texts]  # raises the first failure

    def _draw(self, text: str) -> asyncio.Future[str]:
        self.renders += 1
        return asyncio.get_running_loop().run_in_executor(self._thread, qr_svg, text)

    def close(self) -> None:
        """Stop the drawing thread."""
        self._thread.shutdown(wait=False, cancel_futures=True)
