"""QR codes as inline SVG (vector: sharp on a printed sticker at any size)."""

import asyncio
from collections import OrderedDict
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
    """QR codes by the text they hold, each drawn once, in a thread of its own.

    Drawing one takes milliseconds of pure Python: on the event loop, a flood of sticker page
    views would hold up everything else (webhooks, settling). A code changes only with what it
    holds (the public URL and the connector), so it is kept under that text; the least recently
    used go beyond `size`.
    """

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._codes: OrderedDict[str, asyncio.Future[str]] = OrderedDict()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiosk-qr")
        self.renders = 0
        """How many codes were drawn (a flood of views of the same codes draws each once)."""

    async def svg(self, data: str) -> str:
        """The code for data; views asking at the same time share one drawing."""
        code = self._codes.get(data)
        if code is None:
            self.renders += 1
            code = asyncio.get_running_loop().run_in_executor(self._thread, qr_svg, data)
            self._codes[data] = code
            if len(self._codes) > self._size:
                self._codes.popitem(last=False)
        else:
            self._codes.move_to_end(data)
        try:
            # Shielded: a guest closing the page must not cancel a drawing others wait for.
            return await asyncio.shield(code)
        except Exception:
            if self._codes.get(data) is code:
                del self._codes[data]  # drawn again next time
            raise

    def close(self) -> None:
        """Stop the drawing thread."""
        self._thread.shutdown(wait=False, cancel_futures=True)
