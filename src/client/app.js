// Kabine browser client (placeholder until the conferencing client lands).
document.getElementById('app').querySelector('p').textContent = 'Kabine is running.';
