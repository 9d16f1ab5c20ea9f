// Seals a secret's value in the browser with the scope's public key (libsodium's sealed box, as
// gh and PyNaCl do), so the server never receives it in the clear: the value's field has no name
// and is never submitted; only the sealed box is.
const form = document.getElementById("secret-form");
if (form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await sodium.ready;
    const field = document.getElementById("secret-value");
    const key = sodium.from_base64(form.dataset.key, sodium.base64_variants.ORIGINAL);
    const sealed = sodium.crypto_box_seal(sodium.from_string(field.value), key);
    form.elements.encrypted_value.value = sodium.to_base64(sealed, sodium.base64_variants.ORIGINAL);
    field.value = "";
    form.submit();
  });
}
