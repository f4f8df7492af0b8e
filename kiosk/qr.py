"""QR codes as inline SVG (vector: sharp on a printed sticker at any size)."""

import qrcode
import qrcode.image.svg


def qr_svg(data: str) -> str:
    """An SVG of a QR code for data (medium error correction: survives a scuffed sticker)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    code.add_data(data)
    image = code.make_image(image_factory=qrcode.image.svg.SvgPathImage)
    svg: str = image.to_string(encoding="unicode")
    return svg
